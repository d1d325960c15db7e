//! A `moto_server` for tests: a real S3-protocol server on 127.0.0.1 and a port it picks,
//! with curl as an independent S3 client. Shared by the tests of the library and of the
//! functions (`#[path]`), so it needs nothing from either.
#![allow(dead_code)]

use std::process::Command;

/// A `moto_server` (a real S3-protocol server) on 127.0.0.1 and a free port, stopped on drop.
pub struct Moto {
    child: std::process::Child,
    pub endpoint: String,
    /// The certificate authority curl trusts when moto speaks TLS.
    ca: Option<std::path::PathBuf>,
}

impl Moto {
    /// Starts moto; `extra_env` reaches the server (e.g. `INITIAL_NO_AUTH_ACTION_COUNT`).
    pub fn start(extra_env: &[(&str, &str)]) -> Moto {
        Self::launch(extra_env, None)
    }

    /// Starts moto speaking HTTPS with `cert` and `key`; curl trusts `ca`.
    pub fn start_tls(cert: &std::path::Path, key: &std::path::Path, ca: &std::path::Path) -> Moto {
        Self::launch(&[], Some((cert, key, ca)))
    }

    fn launch(
        extra_env: &[(&str, &str)],
        tls: Option<(&std::path::Path, &std::path::Path, &std::path::Path)>,
    ) -> Moto {
        use std::io::BufRead;
        // Port 0: the server picks a free port itself and says which, so tests never race
        // for one.
        let mut command = Command::new("moto_server");
        command.args(["-H", "127.0.0.1", "-p", "0"]);
        if let Some((cert, key, _)) = tls {
            command.arg("-c").arg(cert).arg("-k").arg(key);
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut child = command
            .envs(extra_env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("moto_server starts (pip install 'moto[server]')");
        let stderr = child.stderr.take().expect("moto's stderr");
        let mut lines = std::io::BufReader::new(stderr).lines();
        let port = loop {
            let line = lines
                .next()
                .expect("moto_server exited before listening")
                .expect("moto's output");
            if let Some(rest) = line
                .split(&format!("Running on {scheme}://127.0.0.1:"))
                .nth(1)
            {
                break rest.trim().parse::<u16>().expect("moto's port");
            }
        };
        // keep draining its log so it never blocks on a full pipe
        std::thread::spawn(move || lines.for_each(drop));
        Moto {
            child,
            endpoint: format!("{scheme}://127.0.0.1:{port}"),
            ca: tls.map(|(_, _, ca)| ca.to_path_buf()),
        }
    }

    /// The environment a client needs: static credentials, no instance metadata, this endpoint.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_ENDPOINT_URL_S3", self.endpoint.clone()),
        ]
    }

    /// PUTs `body` at `s3://bucket/key` (or creates the bucket when `key` is empty) with curl,
    /// as another S3 client would.
    pub fn put(&self, bucket: &str, key: &str, body: &[u8]) {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("moto-put-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("body");
        std::fs::write(&file, body).unwrap();
        let mut curl = self.curl("PUT");
        if !key.is_empty() {
            curl.arg("-T").arg(&file);
        }
        self.run(curl, bucket, key);
    }

    /// GETs `s3://bucket/key` with curl.
    pub fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        self.run(self.curl("GET"), bucket, key)
    }

    /// curl signed like any S3 client (curl's SigV4), with the same static test credentials.
    fn curl(&self, method: &str) -> Command {
        let mut curl = Command::new("curl");
        curl.args([
            "-sS",
            "-f",
            "-X",
            method,
            "--aws-sigv4",
            "aws:amz:us-east-1:s3",
            "--user",
            "testing:testing",
        ]);
        if let Some(ca) = &self.ca {
            curl.arg("--cacert").arg(ca);
        }
        curl
    }

    fn run(&self, mut curl: Command, bucket: &str, key: &str) -> Vec<u8> {
        let url = if key.is_empty() {
            format!("{}/{bucket}", self.endpoint)
        } else {
            format!("{}/{bucket}/{key}", self.endpoint)
        };
        let out = curl.arg(&url).output().expect("curl runs");
        assert!(
            out.status.success(),
            "{url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Whether `s3://bucket/key` exists (a HEAD with curl).
    pub fn exists(&self, bucket: &str, key: &str) -> bool {
        let mut curl = self.curl("HEAD");
        curl.args(["-I", "-o", "/dev/null", "-w", "%{http_code}"]);
        let url = format!("{}/{bucket}/{key}", self.endpoint);
        let out = curl.arg(&url).output().expect("curl runs");
        match String::from_utf8_lossy(&out.stdout).trim() {
            "200" => true,
            "404" => false,
            other => panic!(
                "HEAD {url}: {other} {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }

    /// DELETEs `s3://bucket/key` with curl.
    pub fn delete(&self, bucket: &str, key: &str) {
        self.run(self.curl("DELETE"), bucket, key);
    }

    /// The multipart uploads begun in `bucket` and neither completed nor aborted (a
    /// ListMultipartUploads with curl).
    pub fn open_uploads(&self, bucket: &str) -> usize {
        let listing = self.run(self.curl("GET"), bucket, "?uploads");
        String::from_utf8_lossy(&listing)
            .matches("<Upload>")
            .count()
    }

    /// Creates a bucket.
    pub fn bucket(&self, bucket: &str) {
        self.put(bucket, "", b"");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
