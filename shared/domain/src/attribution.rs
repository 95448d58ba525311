//! A won deal's attribution: which partners it credits, in which role and
//! share.

use crate::partner::PartnerId;
use crate::terms::AttributionRole;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    pub partner_id: PartnerId,
    pub role: AttributionRole,
    pub share_bps: u32,
}
