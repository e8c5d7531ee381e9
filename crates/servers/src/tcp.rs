//! The `tcp` floor target: length-prefixed JSON over plain TCP.
