// The portal in a real browser (Debian's Chromium, driven by playwright-core) against a
// running dev stack: sign in through the emailed link, refer with a mistake and fix it, a
// channel manager approves a registration, the hosted form from a signed-out browser, a
// form submitted by keyboard alone. Every page visited is screenshotted at 375 px and
// checked with axe-core for serious or critical violations.
//
// PARTNEROPS_URL, PARTNEROPS_ADMIN_KEY, CHROMIUM and ARTIFACTS come from `cargo xtask test`.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const BASE = process.env.PARTNEROPS_URL;
const ADMIN = process.env.PARTNEROPS_ADMIN_KEY;
const ARTIFACTS = process.env.ARTIFACTS ?? 'target/browser';
mkdirSync(ARTIFACTS, { recursive: true });

let browser;
const checked = [];

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  console.log(`axe-checked and screenshotted ${checked.length} pages: ${checked.join(', ')}`);
});

async function api(method, path, body) {
  const response = await fetch(`${BASE}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

// A phone-sized context. axe is injected through the DevTools protocol, which the page's
// CSP does not govern; the pages themselves load nothing but their own stylesheet.
async function phone() {
  return browser.newContext({ viewport: { width: 375, height: 812 }, bypassCSP: true });
}

async function check(page, name) {
  await page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => await globalThis.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target).join(' ')})`), [], `axe on ${name}`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  assert.equal(overflow, false, `${name} fits 375 px without scrolling sideways`);
  checked.push(name);
}

async function linkFor(email) {
  const sent = await (await fetch(`${BASE}/_dev/outbox`)).json();
  const mine = sent.filter((n) => n.to === email);
  assert.ok(mine.length > 0, `an email to ${email}`);
  return mine.at(-1).text.split(/\s+/).find((w) => w.includes('/portal/auth/'));
}

async function signIn(page, email, screenshot) {
  await page.goto(`${BASE}/portal/sign-in`);
  if (screenshot) await check(page, 'sign-in');
  await page.getByLabel('Email address').fill(email);
  await page.getByRole('button', { name: 'Email me a sign-in link' }).click();
  await page.getByText('a sign-in link is on its way').waitFor();
  await page.goto(await linkFor(email));
  assert.equal(new URL(page.url()).pathname, '/portal');
}

const run = Date.now().toString(36);

test('a partner signs in, refers with a mistake, fixes it and sees it listed', async () => {
  const partner = `web-${run}`;
  assert.equal((await api('POST', '/v1/admin/partners', { id: partner, name: 'Web & <Partners>', tier: 'gold' })).status, 201);
  const email = `ada-${run}@example.com`;
  assert.equal((await api('POST', '/v1/admin/users', { email, name: 'Ada', role: 'partner', partner_id: partner })).status, 201);
  const context = await phone();
  const page = await context.newPage();
  await signIn(page, email, true);
  await check(page, 'partner-home');
  await page.getByRole('link', { name: 'Refer a company' }).first().click();
  await check(page, 'referral-new');
  await page.getByLabel('Company name').fill('<script>alert(1)</script> Globex');
  await page.getByLabel('Company website domain').fill(`globex-${run}.com`);
  await page.getByLabel('Contact name').fill('Jane Doe');
  await page.getByRole('button', { name: 'Submit referral' }).click();
  await page.getByText('There is a problem').waitFor();
  await check(page, 'referral-errors');
  const emailField = page.getByLabel('Contact email');
  assert.equal(await emailField.getAttribute('aria-invalid'), 'true');
  assert.equal(await page.getByLabel('Company name').inputValue(), '<script>alert(1)</script> Globex', 'kept as typed');
  await emailField.fill('jane@globex.example');
  await page.getByLabel('The contact agreed to be referred').check();
  await page.getByRole('button', { name: 'Submit referral' }).click();
  await page.waitForURL(/\/portal\/referrals\/ref_/);
  await check(page, 'referral-detail');
  assert.ok(await page.getByText('<script>alert(1)</script> Globex', { exact: false }).first().isVisible(), 'shown as text');
  await page.getByRole('link', { name: 'Referrals' }).first().click();
  await page.getByRole('link', { name: /Globex/ }).first().waitFor();
  await check(page, 'referrals');
  await page.goto(`${BASE}/portal/earnings`);
  await check(page, 'earnings');
  await context.close();
});

test('a registration submitted by keyboard alone, approved by a channel manager', async () => {
  const partner = `keys-${run}`;
  await api('POST', '/v1/admin/partners', { id: partner, name: 'Keyboard Partners', tier: 'gold' });
  await api('POST', `/v1/admin/partners/${partner}/certifications`, { name: 'deal_registration', expires_at: '2030-01-01T00:00:00Z' });
  const email = `kim-${run}@example.com`;
  await api('POST', '/v1/admin/users', { email, name: 'Kim', role: 'partner', partner_id: partner });
  const managerEmail = `cm-${run}@example.com`;
  await api('POST', '/v1/admin/users', { email: managerEmail, name: 'Casey', role: 'channel_manager' });

  const context = await phone();
  const page = await context.newPage();
  await signIn(page, email, false);
  await page.goto(`${BASE}/portal/registrations/new`);
  await check(page, 'registration-new');
  // From the top of the page: the skip link, then the form's fields in order, by Tab alone.
  await page.locator('body').focus();
  const typeInto = async (label, text) => {
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      const focused = await page.evaluate(() => document.activeElement?.labels?.[0]?.textContent ?? '');
      if (focused.startsWith(label)) {
        if (text !== null) {
          await page.keyboard.press('Control+A');
          await page.keyboard.type(text);
        }
        return;
      }
    }
    assert.fail(`Tab never reached ${label}`);
  };
  await typeInto('Customer name', 'Initech');
  await typeInto('Customer website domain', `initech-${run}.com`);
  await typeInto('Estimated value', '12000.00');
  await typeInto('Products', 'Core, Analytics');
  await typeInto('Expected close date', null);
  await page.keyboard.type('03312027');
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/portal\/registrations\/reg_/);
  await check(page, 'registration-detail-partner');
  const registrationUrl = page.url();
  await page.goto(`${BASE}/portal/registrations`);
  await check(page, 'registrations');
  await context.close();

  const staff = await phone();
  const cm = await staff.newPage();
  await signIn(cm, managerEmail, false);
  await check(cm, 'staff-home');
  await cm.getByRole('link', { name: 'Pending registrations' }).first().click();
  await check(cm, 'pending-queue');
  await cm.getByRole('link', { name: 'Initech' }).first().click();
  assert.equal(cm.url(), registrationUrl);
  await check(cm, 'registration-detail-staff');
  await cm.getByRole('button', { name: 'Reject registration' }).click();
  await cm.getByText('There is a problem').waitFor();
  await check(cm, 'decision-errors');
  await cm.getByLabel('Protection days').fill('30');
  await cm.getByRole('button', { name: 'Approve registration' }).click();
  await cm.waitForURL(registrationUrl);
  await cm.getByText('approved').first().waitFor();
  await cm.goto(`${BASE}/portal/slas`);
  await check(cm, 'sla-board');
  // The decision's events folded, the reports over a fortnight around today.
  await fetch(`${BASE}/_dev/tick`, { method: 'POST' });
  const day = (offset) => new Date(Date.now() + offset * 86400000).toISOString().slice(0, 10);
  await cm.getByRole('link', { name: 'Reports' }).first().click();
  await cm.waitForURL(/\/portal\/reports$/);
  await cm.goto(`${BASE}/portal/reports?from=${day(-7)}&to=${day(7)}`);
  await cm.getByRole('img', { name: /SLA on-time rate per kind per week/ }).locator('svg').waitFor();
  const rates = cm.getByRole('table', { name: /SLA on-time rate per kind per week/ });
  await rates.getByRole('cell', { name: /100\.00% of 1 due/ }).first().waitFor();
  await check(cm, 'reports');
  await staff.close();
});

test('the hosted referral form works signed out and finance sees the exports', async () => {
  const partner = `form-${run}`;
  await api('POST', '/v1/admin/partners', { id: partner, name: 'Form Partners', tier: 'silver' });
  const link = await api('POST', `/v1/admin/partners/${partner}/referral-form`, {});
  assert.equal(link.status, 201);
  const context = await phone();
  const page = await context.newPage();
  await page.goto(link.body.url);
  await check(page, 'hosted-form');
  await page.getByLabel('Your name').fill('Sam Seller');
  await page.getByLabel('Your email').fill('sam@form.example');
  await page.getByLabel('Company name').fill('Hooli');
  await page.getByLabel('Company website domain').fill(`hooli-${run}.com`);
  await page.getByLabel('Contact name').fill('Gavin');
  await page.getByLabel('Contact email').fill('gavin@hooli.example');
  await page.getByLabel('The contact agreed to be referred').check();
  await page.getByRole('button', { name: 'Send referral' }).click();
  await page.getByRole('heading', { name: 'Referral received' }).waitFor();
  await check(page, 'hosted-form-done');
  await context.close();

  const financeEmail = `fin-${run}@example.com`;
  await api('POST', '/v1/admin/users', { email: financeEmail, name: 'Fran', role: 'finance' });
  const office = await phone();
  const fin = await office.newPage();
  await signIn(fin, financeEmail, false);
  await fin.goto(`${BASE}/portal/exports`);
  await check(fin, 'exports');
  await office.close();
});
