//! Element-set files: a metadata value per file, and its bytes in parts.

use super::{
    check, decode_key, decode_series_part, seal, Invalid, Key, Reader, ELEMENT_FILE_MAX_BYTES,
    ELEMENT_FILE_SIZE,
};

/// What the log knows of a kept element-set file without reading its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElementFile {
    pub id: [u8; 16],
    /// The file's length in bytes.
    pub len: u64,
    /// How many parts hold its bytes.
    pub parts: u32,
    /// The CRC-32 of the whole file.
    pub content_crc: u32,
}

/// The metadata value of an element-set file (for the key of its id).
pub fn encode_element_file(key: &[u8], file: &ElementFile) -> Vec<u8> {
    let mut value = Vec::with_capacity(ELEMENT_FILE_SIZE);
    value.extend_from_slice(&[0; 4]);
    value.extend_from_slice(&file.len.to_le_bytes());
    value.extend_from_slice(&file.parts.to_le_bytes());
    value.extend_from_slice(&file.content_crc.to_le_bytes());
    seal(key, &mut value);
    value
}

/// Verifies and decodes an element-set file's metadata.
pub fn decode_element_file(key: &[u8], value: &[u8]) -> Result<ElementFile, Invalid> {
    let Ok(Key::ElementFile { id }) = decode_key(key) else {
        return Err("not an element-set file's key");
    };
    if value.len() != ELEMENT_FILE_SIZE {
        return Err("element-set file metadata of the wrong length");
    }
    check(key, value)?;
    let mut r = Reader(&value[4..]);
    let (len, parts, content_crc) = (r.u64(), r.u32(), r.u32());
    if len > ELEMENT_FILE_MAX_BYTES as u64 {
        return Err("an element-set file longer than the log keeps");
    }
    Ok(ElementFile {
        id,
        len,
        parts,
        content_crc,
    })
}

/// Verifies and decodes one part of an element-set file: the whole file's length and
/// this part's bytes (the same layout as a series part).
pub fn decode_element_part<'a>(key: &[u8], value: &'a [u8]) -> Result<(u64, &'a [u8]), Invalid> {
    if !matches!(decode_key(key), Ok(Key::ElementFilePart { .. })) {
        return Err("not an element-set file part's key");
    }
    decode_series_part(key, value)
}
