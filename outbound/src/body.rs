//! Reading a response body under a size limit.
//!
//! The body is read chunk by chunk and reading stops at the first chunk past the limit; the
//! response is then dropped, which closes the connection, so the rest is never buffered.

use crate::error::OutboundError;

/// What watches a body's chunks as they arrive (a streamed model answer shown live).
pub type ChunkObserver<'a> = &'a mut (dyn FnMut(&[u8]) + Send);

/// Reads the whole body of `response`, failing with `TooLarge` once it passes `limit` bytes;
/// `observe` sees each chunk within the limit as it arrives.
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
    observe: ChunkObserver<'_>,
) -> Result<Vec<u8>, OutboundError> {
    // A declared length past the limit fails before a byte is read.
    let declared = response
        .content_length()
        .and_then(|length| usize::try_from(length).ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(OutboundError::TooLarge { limit });
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(OutboundError::from_reqwest)?
    {
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(OutboundError::TooLarge { limit });
        }
        observe(&chunk);
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
