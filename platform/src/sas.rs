//! Account shared access signatures, signed with an account key.
//!
//! The Rust storage SDK has no shared-key authentication (Azure/azure-sdk-for-rust#2975), so
//! tests against Azurite (and operators with only an account key) sign an account SAS here
//! and hand the SDK a SAS token instead.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Azurite's well-known development account.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known development key (public, documented by Microsoft).
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The storage service version the signature is made for.
pub const SAS_VERSION: &str = "2025-01-05";

/// What an account SAS allows.
#[derive(Debug, Clone)]
pub struct AccountSas<'a> {
    pub account: &'a str,
    /// Base64 account key.
    pub key: &'a str,
    /// Permissions, e.g. `rwdlac` (read, write, delete, list, add, create).
    pub permissions: &'a str,
    /// Expiry, `YYYY-MM-DDThh:mm:ssZ`.
    pub expiry: &'a str,
}

#[derive(Debug, thiserror::Error)]
#[error("the account key is not valid base64: {0}")]
pub struct BadKey(String);

impl AccountSas<'_> {
    /// The SAS token (a query string without the leading `?`) for the blob service.
    pub fn token(&self) -> Result<String, BadKey> {
        let (services, resource_types, protocol) = ("b", "sco", "https,http");
        let string_to_sign = format!(
            "{}\n{}\n{services}\n{resource_types}\n\n{}\n\n{protocol}\n{SAS_VERSION}\n\n",
            self.account, self.permissions, self.expiry
        );
        let key = STANDARD
            .decode(self.key)
            .map_err(|e| BadKey(e.to_string()))?;
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
        let signature = STANDARD.encode(ring::hmac::sign(&key, string_to_sign.as_bytes()).as_ref());
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("sv", SAS_VERSION)
            .append_pair("ss", services)
            .append_pair("srt", resource_types)
            .append_pair("sp", self.permissions)
            .append_pair("se", self.expiry)
            .append_pair("spr", protocol)
            .append_pair("sig", &signature)
            .finish();
        Ok(query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_every_field_and_a_stable_signature() {
        let sas = AccountSas {
            account: AZURITE_ACCOUNT,
            key: AZURITE_KEY,
            permissions: "rl",
            expiry: "2030-01-01T00:00:00Z",
        };
        let token = sas.token().unwrap();
        assert!(token.starts_with(
            "sv=2025-01-05&ss=b&srt=sco&sp=rl&se=2030-01-01T00%3A00%3A00Z&spr=https%2Chttp&sig="
        ));
        assert_eq!(token, sas.token().unwrap());
        assert!(
            AccountSas {
                key: "not base64!",
                ..sas
            }
            .token()
            .is_err()
        );
    }
}
