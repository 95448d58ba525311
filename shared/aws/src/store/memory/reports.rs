//! The in-memory twin of `store::reports`: the same conditional semantics
//! on the twin's one lock.

use async_trait::async_trait;

use crate::store::items::MAX_TRANSACTION_ITEMS;
use crate::store::reports::{bounds, changes, months};
use crate::store::{DayTallies, ReportDays, ReportKind, ReportTallies, Tallies};
use crate::{MemoryStore, StoreError};
use partnerops_domain::report::{DayRange, Fact};
#[async_trait]
impl ReportTallies for MemoryStore {
    async fn report_facts(&self, subject: &str) -> Result<Vec<Fact>, StoreError> {
        let mut state = self.state();
        let facts: Vec<Fact> = state
            .reports
            .facts
            .range((subject.to_owned(), String::new())..)
            .take_while(|((s, _), _)| s == subject)
            .map(|(_, f)| f.clone())
            .collect();
        state.visited += facts.len() as u64;
        Ok(facts)
    }

    async fn replace_fact(&self, before: Option<&Fact>, after: &Fact) -> Result<(), StoreError> {
        let mut state = self.state();
        let key = (after.subject.clone(), after.record.clone());
        let stored = state.reports.facts.get(&key).map(|f| f.source_rev);
        if stored != before.map(|b| b.source_rev) {
            return Err(StoreError::Conflict("the report fact"));
        }
        let changes = changes(before, after);
        if changes.len() + 1 > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::Unexpected(anyhow::anyhow!(
                "a record's report change touches {} items, over one transaction's {MAX_TRANSACTION_ITEMS}",
                changes.len() + 1
            )));
        }
        for (pk, sk, (_, k, day), tallies) in changes {
            let entry = state.reports.aggregates.entry((pk, sk)).or_insert_with(|| (day, k, Tallies::new()));
            for (name, by) in tallies {
                *entry.2.entry(name).or_default() += by;
            }
        }
        state.reports.facts.insert(key, after.clone());
        Ok(())
    }

    async fn report_days(
        &self,
        report: ReportKind,
        grouping: &str,
        range: &DayRange,
    ) -> Result<ReportDays, StoreError> {
        let (from, to) = bounds(range);
        let mut state = self.state();
        let mut out = ReportDays::default();
        for month in months(range) {
            let pk = format!("RPT#{}#{grouping}#{month}", report.as_str());
            out.queries += 1;
            for (_, (day, key, tallies)) in
                state.reports.aggregates.range((pk.clone(), from.clone())..=(pk, to.clone()))
            {
                out.items_read += 1;
                let tallies = tallies.iter().filter(|(_, v)| **v != 0).map(|(k, v)| (k.clone(), *v)).collect();
                out.days.push(DayTallies { day: day.clone(), key: key.clone(), tallies });
            }
        }
        state.visited += out.items_read as u64;
        Ok(out)
    }
}
