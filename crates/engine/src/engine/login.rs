//! `snaptree login`: an OVH consumer key for a profile, requested with the access rules
//! of its mode, then watched until the account owner approves it (docs/config.md,
//! "Consumer key"). The back end's login client is the engine's; the CLI speaks and waits.

use std::time::Duration;

use crate::config::ProfileConfig;
use crate::provider::ProviderError;
use crate::provider::ovh::login::{self, Approval, Login};

pub use crate::provider::ovh::login::Requested;

/// How often the approval is looked at.
pub const POLL: Duration = login::POLL;

/// The login of one OVH profile.
pub struct OvhLogin {
    login: Login,
    read_only: bool,
    order: bool,
}

/// What a look at the approval found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Polled {
    /// The owner approved the key: it works.
    Approved,
    /// Not yet.
    Waiting,
    /// A passing network fault: look again at the next poll.
    Passing(String),
}

impl OvhLogin {
    /// The login of profile `name`, whose key may change nothing when `read_only`, and may
    /// also order options with `order`. The error is the sentence to show (a usage error).
    pub fn for_profile(
        name: &str,
        cfg: &ProfileConfig,
        read_only: bool,
        order: bool,
    ) -> Result<Self, String> {
        Ok(OvhLogin {
            login: Login::for_profile(name, cfg)?,
            read_only,
            order,
        })
    }

    /// The API the key is asked of.
    pub fn base_url(&self) -> &str {
        self.login.base_url()
    }

    /// The number of access rules the key is asked with.
    pub fn rules(&self) -> usize {
        login::access_rules(self.read_only, self.order).len()
    }

    /// Ask for a key: its id and the URL where the owner approves it.
    pub async fn request(&self) -> Result<Requested, String> {
        let rules = login::access_rules(self.read_only, self.order);
        self.login.request(&rules).await.map_err(|e| e.to_string())
    }

    /// Follow the approval of `requested`'s key.
    pub fn watch(&self, requested: &Requested) -> Result<Watch, String> {
        self.login
            .watch(&requested.consumer_key)
            .map(Watch)
            .map_err(|e| e.to_string())
    }
}

/// The approval of a key being followed.
pub struct Watch(Approval);

impl Watch {
    /// Look once: approved, not yet, or a passing fault; any other error is the sentence.
    pub async fn poll(&self) -> Result<Polled, String> {
        match self.0.approved().await {
            Ok(true) => Ok(Polled::Approved),
            Ok(false) => Ok(Polled::Waiting),
            Err(ProviderError::Unreachable(m)) => Ok(Polled::Passing(m)),
            Err(e) => Err(e.to_string()),
        }
    }
}
