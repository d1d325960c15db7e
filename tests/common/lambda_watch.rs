//! `cargo lambda watch` for the functions' end-to-end tests: the process (stopped with its
//! process group when dropped) and a free loopback port for it. Shared by `functions/predict`
//! and `functions/batch` through `#[path]`.
#![allow(dead_code)]

use std::process::{Child, Command};

/// `cargo lambda watch`, stopped (with its process group) when dropped.
pub struct Watch {
    pub child: Child,
    pub port: u16,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let pgid = self.child.id();
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{pgid}")])
            .status();
        let _ = self.child.wait();
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("its address")
        .port()
}
