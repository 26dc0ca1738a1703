//! hearth's integration tests: one binary, one module per area.

mod acp;
mod assistant;
mod chat;
mod common;
mod edit;
mod engine;
mod fuzz;
mod gguf;
mod hardening;
mod hybrid;
mod hybrid_models;
mod hybrid_session;
mod inspect;
mod moe;
mod refmodel;
mod remote;
mod repl;
mod serve;
mod session;
mod sessions;
mod spec;
mod testmodels;
mod tokenize;
mod tools;
mod vulkan;
mod vulkan_layers;
