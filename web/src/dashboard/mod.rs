//! The operator dashboard: instances with filters, counts and queue depths; one instance's
//! history, timeline (Gantt), agent threads and actions (raise ApprovalEvent, terminate, purge).

mod actions;
mod instance;
mod list;

pub use actions::{approval, confirm_purge, login, login_form, purge, retry, terminate};
pub use instance::instance;
pub use list::dashboard;
