//! RoomHub: the registry of sockets and rooms the three raw targets share, and fan-out.
