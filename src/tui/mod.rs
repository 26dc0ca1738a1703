//! The terminal REPL. For now only its rendering layer, `view`: pure functions and widgets
//! from plain data to ratatui lines and buffers; the state, update and event loop come later.

pub mod view;
