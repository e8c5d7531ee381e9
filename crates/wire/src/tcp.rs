//! Framing of the `tcp` floor target: every frame is a 4-byte big-endian length followed by
//! that many bytes of the same JSON the WebSocket targets carry in one text frame.

use tokio_util::codec::LengthDelimitedCodec;

/// Bytes of the length prefix.
pub const HEADER_LEN: usize = 4;

/// The codec both the `tcp` server and the load generator's tcp client use. Frames longer
/// than `max_frame` are rejected by the decoder (the server then closes the connection).
pub fn codec(max_frame: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(HEADER_LEN)
        .big_endian()
        .max_frame_length(max_frame)
        .new_codec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use tokio_util::codec::{Decoder, Encoder};

    #[test]
    fn prefix_is_four_bytes_big_endian() {
        let mut c = codec(1024);
        let mut buf = BytesMut::new();
        c.encode(Bytes::from_static(b"{\"op\":\"x\"}"), &mut buf)
            .unwrap();
        assert_eq!(&buf[..4], &[0, 0, 0, 10]);
        assert_eq!(&c.decode(&mut buf).unwrap().unwrap()[..], b"{\"op\":\"x\"}");
    }

    #[test]
    fn oversize_frame_is_an_error() {
        let mut c = codec(8);
        let mut buf = BytesMut::from(&[0u8, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9][..]);
        assert!(c.decode(&mut buf).is_err());
    }
}
