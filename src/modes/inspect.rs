//! `hearth inspect`: what a GGUF file holds, as tables or one JSON object.

use crate::cli::InspectArgs;
use crate::error::{Error, Result};

pub fn run(_args: &InspectArgs) -> Result<()> {
    Err(Error::unsupported("inspect: not built yet"))
}
