//! The room limits every target enforces on `join`: at most `max_rooms_per_connection`
//! rooms per connection and room names of at most `max_room_name_bytes` bytes. A refused
//! join gets an error reply (raw: `{"op":"error","reason":…}`, Socket.IO: `error(reason)`)
//! and no ack; the connection stays up. Without them one client could hold any number of
//! rooms of any size in the server's memory.

use crate::config::ServerConfig;

/// The limits, from [`ServerConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomLimits {
    pub max_rooms: usize,
    pub max_name_bytes: usize,
}

/// Why a join was refused; the text is the error reply's reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomRefused {
    #[error("room name of {len} bytes is over the limit of {max} bytes")]
    NameTooLong { len: usize, max: usize },
    #[error("room limit reached: a connection may be in at most {max} rooms")]
    TooManyRooms { max: usize },
}

impl RoomLimits {
    pub fn new(cfg: &ServerConfig) -> Self {
        RoomLimits {
            max_rooms: cfg.max_rooms_per_connection,
            max_name_bytes: cfg.max_room_name_bytes,
        }
    }

    /// Whether a connection already in `joined` rooms (not including `room`) may join `room`.
    pub fn check(&self, room: &str, joined: usize) -> Result<(), RoomRefused> {
        if room.len() > self.max_name_bytes {
            return Err(RoomRefused::NameTooLong {
                len: room.len(),
                max: self.max_name_bytes,
            });
        }
        if joined >= self.max_rooms {
            return Err(RoomRefused::TooManyRooms {
                max: self.max_rooms,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_inclusive() {
        let l = RoomLimits {
            max_rooms: 2,
            max_name_bytes: 3,
        };
        assert_eq!(l.check("abc", 1), Ok(()));
        assert_eq!(
            l.check("abcd", 0),
            Err(RoomRefused::NameTooLong { len: 4, max: 3 })
        );
        assert_eq!(l.check("a", 2), Err(RoomRefused::TooManyRooms { max: 2 }));
        assert_eq!(
            l.check("a", 2).unwrap_err().to_string(),
            "room limit reached: a connection may be in at most 2 rooms"
        );
    }
}
