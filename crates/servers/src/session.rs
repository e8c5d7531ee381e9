//! One raw connection's request handling, independent of framing: parse, act on the hub, reply.
