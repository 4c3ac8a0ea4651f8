//! CCSDS OMMs (KVN, XML) and CelesTrak's JSON and CSV of the same keywords.

use super::{ElementSet, Refusal};

type Read = Result<(Vec<ElementSet>, Vec<Refusal>), String>;

const NOT_YET: &str = "OMM files are not read by this build yet (TLEs are)";

pub(super) fn read_kvn(_text: &str) -> Read {
    Err(NOT_YET.to_string())
}

pub(super) fn read_xml(_text: &str) -> Read {
    Err(NOT_YET.to_string())
}

pub(super) fn read_json(_text: &str) -> Read {
    Err(NOT_YET.to_string())
}

pub(super) fn read_csv(_text: &str) -> Read {
    Err(NOT_YET.to_string())
}
