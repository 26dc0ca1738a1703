//! `hearth tokenize`: text to token ids with a model's tokenizer.

use crate::cli::TokenizeArgs;
use crate::error::{Error, Result};

pub fn run(_args: &TokenizeArgs) -> Result<()> {
    Err(Error::unsupported("tokenize: not built yet"))
}
