//! Chat templates: rendering `tokenizer.chat_template` and the built-in fallbacks.
