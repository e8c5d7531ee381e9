//! The load generator: clients for every protocol behind one [`transport::Transport`] seam,
//! the open-loop scheduler, the recorder, the scenario runner and child-process supervision.

pub mod transport;
