//! Static files, compiled into the binary: nothing is loaded from a CDN.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// `dist/htmx.min.js` of the npm package `htmx.org@2.0.11` (see `web/static/README.md`).
pub const HTMX: &str = include_str!("../static/htmx-2.0.11.min.js");
/// `dist/sse.min.js` of the npm package `htmx-ext-sse@2.2.4`: the trip pages follow the trip's
/// server-sent events with it (see `web/static/README.md`).
pub const HTMX_SSE: &str = include_str!("../static/htmx-ext-sse-2.2.4.min.js");
pub const CSS: &str = include_str!("../static/app.css");
/// Ours: a trip's page shows the agents' replies as they are written with it.
pub const LIVE_REPLIES: &str = include_str!("../static/live-replies.js");
/// Ours: the chat page shows the intake agent's reply as it is written with it.
pub const CHAT: &str = include_str!("../static/chat.js");
/// The site's icon (a paper plane), also answered at `/favicon.ico`.
pub const FAVICON: &str = include_str!("../static/favicon.svg");

fn cached(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}

pub async fn htmx() -> Response {
    cached("text/javascript; charset=utf-8", HTMX)
}

pub async fn htmx_sse() -> Response {
    cached("text/javascript; charset=utf-8", HTMX_SSE)
}

pub async fn live_replies() -> Response {
    cached("text/javascript; charset=utf-8", LIVE_REPLIES)
}

pub async fn chat() -> Response {
    cached("text/javascript; charset=utf-8", CHAT)
}

pub async fn css() -> Response {
    cached("text/css; charset=utf-8", CSS)
}

pub async fn favicon() -> Response {
    cached("image/svg+xml", FAVICON)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_vendored_htmx_and_its_sse_extension_are_the_pinned_npm_releases() {
        assert_eq!(
            travel_platform::secret::sha256_hex(super::HTMX),
            "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
        );
        assert_eq!(
            travel_platform::secret::sha256_hex(super::HTMX_SSE),
            "98a46496de0c3605fbffdce9167ba427bdd9553184f83f149c261891a92c0136"
        );
    }
}
