//! Signed review links for approvers who are not the requester (`APPROVERS`): each link is bound
//! to one trip, one plan revision and one approver, and expires with the approval window. It is
//! an HMAC-SHA-256 under a key kept in the workflow store (every process of a PostgreSQL store
//! shares it; deleting its row makes every link invalid). Opening a link shows the plan; only a
//! POST from its page acts, and only while its revision is the one awaiting approval.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use travel_platform::secret::{constant_time_eq, hmac_sha256_hex};

/// What a link carries besides the trip (its query string, and the review form's hidden fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkParams {
    pub revision: u32,
    pub approver: String,
    /// Unix seconds: the end of the approval window the link was made for.
    pub expires: i64,
    pub signature: String,
}

/// A link made for one approver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalLink {
    pub approver: String,
    pub url: String,
}

/// Why a link does not act.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("this review link is not valid (it was changed, or made by another installation)")]
    BadSignature,
    #[error("this review link expired with its approval window")]
    Expired,
    #[error("`{0}` is not one of this service's approvers (APPROVERS) any more")]
    NotAnApprover(String),
    #[error(
        "this review link is for revision {link} of the plan, which is now at revision {now}: ask for a new link"
    )]
    OldRevision { link: u32, now: u32 },
}

/// Makes and checks the approvers' links.
#[derive(Clone)]
pub struct ApprovalLinks {
    key: Vec<u8>,
    pub approvers: Vec<String>,
    pub public_base_url: String,
}

impl std::fmt::Debug for ApprovalLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApprovalLinks")
            .field("approvers", &self.approvers)
            .field("public_base_url", &self.public_base_url)
            .finish_non_exhaustive()
    }
}

impl ApprovalLinks {
    /// Links under `key` for `approvers` (`APPROVERS`: names or e-mail addresses, comma-separated;
    /// blanks and repeats dropped).
    pub fn new(key: Vec<u8>, approvers: &str, public_base_url: &str) -> Self {
        let mut list: Vec<String> = Vec::new();
        for approver in approvers
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            if !list.iter().any(|a| a == approver) {
                list.push(approver.to_owned());
            }
        }
        Self {
            key,
            approvers: list,
            public_base_url: public_base_url.trim_end_matches('/').to_owned(),
        }
    }

    fn sign(&self, instance_id: &str, revision: u32, approver: &str, expires: i64) -> String {
        let message = format!("review-link\n{instance_id}\n{revision}\n{approver}\n{expires}");
        hmac_sha256_hex(&self.key, &message)
    }

    /// The address of a review link on this service, without its scheme and host.
    pub fn review_path(instance_id: &str, link: &LinkParams) -> String {
        let url = review_url("http://service", instance_id, link);
        match url.find("/review/") {
            Some(start) => url[start..].to_owned(),
            None => format!("/review/{instance_id}"),
        }
    }

    /// The link of one approver for a plan revision awaiting approval until `expires_at`.
    pub fn link(
        &self,
        instance_id: &str,
        revision: u32,
        approver: &str,
        expires_at: DateTime<Utc>,
    ) -> ApprovalLink {
        let expires = expires_at.timestamp();
        let link = LinkParams {
            revision,
            approver: approver.to_owned(),
            expires,
            signature: self.sign(instance_id, revision, approver, expires),
        };
        ApprovalLink {
            approver: approver.to_owned(),
            url: review_url(&self.public_base_url, instance_id, &link),
        }
    }

    /// Every approver's link for a plan revision.
    pub fn for_approvers(
        &self,
        instance_id: &str,
        revision: u32,
        expires_at: DateTime<Utc>,
    ) -> Vec<ApprovalLink> {
        self.approvers
            .iter()
            .map(|a| self.link(instance_id, revision, a, expires_at))
            .collect()
    }

    /// Whether a link is one this service made for `instance_id`, still open, for a current
    /// approver. (Whether its revision is still awaiting approval is the trip's to say.)
    pub fn verify(
        &self,
        instance_id: &str,
        link: &LinkParams,
        now: DateTime<Utc>,
    ) -> Result<(), LinkError> {
        let expected = self.sign(instance_id, link.revision, &link.approver, link.expires);
        if !constant_time_eq(expected.as_bytes(), link.signature.as_bytes()) {
            return Err(LinkError::BadSignature);
        }
        if now.timestamp() >= link.expires {
            return Err(LinkError::Expired);
        }
        if !self.approvers.contains(&link.approver) {
            return Err(LinkError::NotAnApprover(link.approver.clone()));
        }
        Ok(())
    }
}

/// `{base}/review/{instance_id}?revision=..&approver=..&expires=..&signature=..`.
fn review_url(base: &str, instance_id: &str, link: &LinkParams) -> String {
    reqwest::Url::parse_with_params(
        &format!("{base}/review/{instance_id}"),
        [
            ("revision", link.revision.to_string()),
            ("approver", link.approver.clone()),
            ("expires", link.expires.to_string()),
            ("signature", link.signature.clone()),
        ],
    )
    .map(String::from)
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> ApprovalLinks {
        ApprovalLinks::new(
            b"key".to_vec(),
            " ana@example.org, Ben ,,Ben",
            "https://trips.example.org/",
        )
    }

    fn params_of(url: &str) -> LinkParams {
        let url = reqwest::Url::parse(url).unwrap();
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        LinkParams {
            revision: q["revision"].parse().unwrap(),
            approver: q["approver"].clone(),
            expires: q["expires"].parse().unwrap(),
            signature: q["signature"].clone(),
        }
    }

    #[test]
    fn a_link_acts_for_its_trip_revision_and_approver_until_it_expires() {
        let links = links();
        assert_eq!(links.approvers, ["ana@example.org", "Ben"]);
        let now = Utc::now();
        let expires = now + chrono::Duration::days(7);
        let made = links.for_approvers("trip-1", 2, expires);
        assert_eq!(made.len(), 2);
        assert!(made[0].url.starts_with(
            "https://trips.example.org/review/trip-1?revision=2&approver=ana%40example.org"
        ));
        let link = params_of(&made[0].url);
        assert_eq!(links.verify("trip-1", &link, now), Ok(()));
        let path = ApprovalLinks::review_path("trip-1", &link);
        assert_eq!(made[0].url, format!("https://trips.example.org{path}"));

        assert_eq!(
            links.verify("trip-2", &link, now),
            Err(LinkError::BadSignature)
        );
        for tampered in [
            LinkParams {
                revision: 3,
                ..link.clone()
            },
            LinkParams {
                approver: "Ben".into(),
                ..link.clone()
            },
            LinkParams {
                expires: link.expires + 3600,
                ..link.clone()
            },
            LinkParams {
                // Its first hex digit changed (a replacement of one letter would leave a
                // signature without that letter as it was).
                signature: {
                    let first = if link.signature.starts_with('0') {
                        "1"
                    } else {
                        "0"
                    };
                    format!("{first}{}", &link.signature[1..])
                },
                ..link.clone()
            },
        ] {
            assert_eq!(
                links.verify("trip-1", &tampered, now),
                Err(LinkError::BadSignature)
            );
        }
        let later = expires + chrono::Duration::seconds(1);
        assert_eq!(
            links.verify("trip-1", &link, later),
            Err(LinkError::Expired)
        );
        let other_key = ApprovalLinks::new(b"other".to_vec(), "ana@example.org", "https://x");
        assert_eq!(
            other_key.verify("trip-1", &link, now),
            Err(LinkError::BadSignature)
        );
        let fewer = ApprovalLinks::new(b"key".to_vec(), "Ben", "https://x");
        assert!(matches!(
            fewer.verify("trip-1", &link, now),
            Err(LinkError::NotAnApprover(_))
        ));
    }
}
