//! The operator dashboard: instances with filters, counts and queue depths; one instance's
//! history, timeline (Gantt), agent threads and actions (raise ApprovalEvent, terminate, purge);
//! the intake conversations (the newest in the list, one with its messages).

mod actions;
mod conversation;
mod instance;
mod list;

pub use actions::{approval, confirm_purge, login, login_form, purge, retry, terminate};
pub use conversation::conversation;
pub use instance::instance;
pub use list::dashboard;
