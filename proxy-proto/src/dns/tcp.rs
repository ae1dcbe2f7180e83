//! DNS over TCP framing: each message is preceded by its length as a
//! two-byte big-endian field (RFC 1035 §4.2.2, RFC 7766 §8).

/// Errors of the TCP framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TcpFrameError {
    /// A message longer than 65535 bytes cannot be framed.
    #[error("DNS message longer than 65535 bytes")]
    MessageTooLong,
    /// A zero length prefix: no DNS message is empty (12-byte header), so
    /// the stream is garbage and the connection should be closed.
    #[error("zero-length DNS message on TCP")]
    ZeroLength,
}

const LENGTH_LEN: usize = 2;

/// Prefixes `message` with its length.
pub fn frame(message: &[u8]) -> Result<Vec<u8>, TcpFrameError> {
    let len = u16::try_from(message.len()).map_err(|_| TcpFrameError::MessageTooLong)?;
    let mut out = Vec::with_capacity(LENGTH_LEN + message.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(message);
    Ok(out)
}

/// Reassembles messages from a TCP byte stream. It buffers at most one
/// partial message (≤ 65537 bytes) beyond the complete ones not yet taken.
#[derive(Debug, Default)]
pub struct TcpDeframer {
    buffer: Vec<u8>,
}

impl TcpDeframer {
    /// An empty deframer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete message, if one has arrived.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, TcpFrameError> {
        let Some(prefix) = self.buffer.get(..LENGTH_LEN) else {
            return Ok(None);
        };
        let len = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
        if len == 0 {
            return Err(TcpFrameError::ZeroLength);
        }
        if self.buffer.len() < LENGTH_LEN + len {
            return Ok(None);
        }
        let message = self.buffer[LENGTH_LEN..LENGTH_LEN + len].to_vec();
        self.buffer.drain(..LENGTH_LEN + len);
        Ok(Some(message))
    }

    /// Bytes buffered and not yet returned.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_with_big_endian_length() {
        assert_eq!(frame(&[0xAA; 3]).unwrap(), vec![0, 3, 0xAA, 0xAA, 0xAA]);
        assert_eq!(frame(&vec![0; 65536]), Err(TcpFrameError::MessageTooLong));
        assert_eq!(frame(&vec![0; 65535]).unwrap()[..2], [0xFF, 0xFF]);
    }

    #[test]
    fn reassembles_split_and_coalesced_messages() {
        let mut d = TcpDeframer::new();
        d.push(&[0]);
        assert_eq!(d.next_message(), Ok(None));
        d.push(&[2, 1]);
        assert_eq!(d.next_message(), Ok(None));
        d.push(&[2, 0, 1, 9, 0]);
        assert_eq!(d.next_message(), Ok(Some(vec![1, 2])));
        assert_eq!(d.next_message(), Ok(Some(vec![9])));
        assert_eq!(d.next_message(), Ok(None));
        assert_eq!(d.buffered(), 1);
        d.push(&[0]);
        assert_eq!(d.next_message(), Err(TcpFrameError::ZeroLength));
    }
}
