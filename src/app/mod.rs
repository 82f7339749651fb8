//! The TUI's state machine: `AppState`, the keymap's `Action`s, and `update`, which turns
//! keys and engine events into state changes and effects. No terminal, no network.

pub mod backups;
pub mod keymap;
pub mod layout;
pub mod list;
pub mod marks;
pub mod order;
pub mod parts;
pub mod state;
pub mod update;

pub use keymap::{Action, KEYMAP};
pub use state::{AppState, Pane, ProfileStatus, ProfileView, Settings};
pub use update::{Effect, Msg, update};
