//! Device materialization (issue #6). Without the `cuda` feature, or on a
//! machine without a CUDA driver or device, asking for a device is a clean
//! error, and the GPU tests say they are skipped and why. With a GPU they
//! run for real: every fixture goes host → device → host equal, and eight
//! threads asking for one field cause one upload per key.

mod common;

use akbuf::{open, Device, Error};
use common::*;
use std::process::Command;

/// Why the GPU tests cannot run here, if they cannot.
fn no_gpu() -> Option<String> {
    #[cfg(not(feature = "cuda"))]
    return Some("built without the `cuda` feature".into());
    #[cfg(feature = "cuda")]
    match akbuf::cuda_available() {
        Ok(0) => Some("no CUDA device".into()),
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    }
}

fn skip(test: &str, why: &str) {
    eprintln!("skipped: {test}: {why}");
}

#[test]
fn asking_for_an_unusable_device_is_a_device_error() {
    let events = open(case("events")).unwrap();
    assert_eq!(events.device(), Device::Cpu);
    assert_eq!(events.to_device(Device::Cpu).unwrap().device(), Device::Cpu);
    // An ordinal no machine has.
    match events.to_device(Device::Cuda(4096)) {
        Err(Error::Device { device, message }) => {
            assert_eq!(device, "cuda:4096");
            assert!(!message.is_empty());
        }
        other => panic!("expected a device error, got {other:?}"),
    }
    if let Some(_why) = no_gpu() {
        match events.to_device(Device::Cuda(0)) {
            Err(e @ Error::Device { .. }) => {
                let text = e.to_string();
                assert!(text.starts_with("cuda:0: "), "{text}");
                #[cfg(not(feature = "cuda"))]
                assert!(text.contains("without the `cuda` feature"), "{text}");
                #[cfg(feature = "cuda")]
                if _why.starts_with("cuda:0: ") {
                    // No driver: the probe's reason, word for word.
                    assert_eq!(text, _why);
                }
            }
            other => panic!("expected a device error, got {other:?}"),
        }
        // Host access is untouched by the failed attempt.
        assert_eq!(events.to_json().unwrap(), expected(&case("events")).json);
    }
}

#[test]
fn the_cli_device_option() {
    let akbuf = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_akbuf"))
            .args(args)
            .output()
            .unwrap()
    };
    let dir = case("events");
    let dir = dir.to_str().unwrap();
    let host = akbuf(&["show", dir]);
    assert!(host.status.success());
    let cpu = akbuf(&["show", dir, "--device", "cpu"]);
    assert_eq!(cpu.stdout, host.stdout);
    let gpu = akbuf(&["show", dir, "--device", "cuda:0"]);
    match no_gpu() {
        Some(why) => {
            assert_eq!(gpu.status.code(), Some(1));
            let err = String::from_utf8(gpu.stderr).unwrap();
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.starts_with("akbuf: error: cuda:0: "), "{err}");
            assert!(gpu.stdout.is_empty());
            skip("the_cli_device_option (round trip through cuda:0)", &why);
        }
        None => {
            assert!(
                gpu.status.success(),
                "{}",
                String::from_utf8_lossy(&gpu.stderr)
            );
            assert_eq!(gpu.stdout, host.stdout);
        }
    }
    let bad = akbuf(&["show", dir, "--device", "gpu0"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[cfg(feature = "cuda")]
mod gpu {
    use super::*;
    use akbuf::{from_buffers, ByteOrder, Cache, DirSource, MemorySource, Metadata, Options};
    use std::sync::{Arc, Barrier};

    #[test]
    fn every_fixture_round_trips_through_the_device() {
        if let Some(why) = no_gpu() {
            return skip("every_fixture_round_trips_through_the_device", &why);
        }
        let mut failures = Vec::new();
        let cases = all_cases();
        for (name, dir) in &cases {
            let meta = Metadata::read_dir(dir).unwrap();
            let host = meta.open(DirSource::new(dir)).unwrap();
            let want = expected(dir).json;
            let on = host.to_device(Device::Cuda(0)).unwrap();
            let result = (|| -> akbuf::Result<String> {
                let mut copies = MemorySource::new();
                for b in on.device_buffers()? {
                    copies = copies.with(b.key(), b.to_host()?);
                }
                let options = meta.options()?.with_byteorder(ByteOrder::native());
                from_buffers(&meta.form, meta.length, copies, options)?.to_json()
            })();
            match result {
                Ok(j) if j == want => {}
                Ok(j) => failures.push(format!("{name}: got {j}, want {want}")),
                // Cases that fail on the host fail the same way on the device.
                Err(e) if host.validate().is_err() => drop(e),
                Err(e) => failures.push(format!("{name}: {e}")),
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {}:\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn eight_threads_one_upload_per_key() {
        if let Some(why) = no_gpu() {
            return skip("eight_threads_one_upload_per_key", &why);
        }
        let cache = Arc::new(Cache::new());
        let copies = Arc::new(akbuf::DeviceCache::new());
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data/events");
        let meta = Metadata::read_dir(dir).unwrap();
        let events = meta
            .open_with(
                DirSource::new(dir),
                Options::default().with_cache(Arc::clone(&cache)),
            )
            .unwrap()
            .to_device_with(Device::Cuda(0), Arc::clone(&copies))
            .unwrap();
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (events, barrier) = (events.clone(), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    let pt = events.field("jets").unwrap().field("pt").unwrap();
                    let offsets = pt.device_offsets().unwrap();
                    let values = pt.content().unwrap().device_values().unwrap();
                    (
                        offsets.view::<i64>().unwrap().len(),
                        values.view::<f32>().unwrap().len(),
                    )
                })
            })
            .collect();
        let lens: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(lens.iter().all(|l| *l == lens[0]));
        let host = events.field("jets").unwrap().field("pt").unwrap();
        assert_eq!(
            lens[0],
            (host.len() + 1, host.flat_values::<f32>().unwrap().len())
        );
        let (s, d) = (cache.stats(), copies.stats());
        assert_eq!((s.reads, d.uploads), (2, 2), "{s:?} {d:?}");
        assert_eq!(d.hits + d.waits, 14);
        // The copies come back with the host's values.
        let pt = events
            .field("jets")
            .unwrap()
            .field("pt")
            .unwrap()
            .content()
            .unwrap();
        let back = pt.device_values().unwrap().to_host().unwrap();
        let want: Vec<u8> = host
            .content()
            .unwrap()
            .values::<f32>()
            .unwrap()
            .iter()
            .flat_map(|x| x.to_ne_bytes())
            .collect();
        assert_eq!(back.as_slice(), &want[..]);
        // A typed view of the wrong type is refused.
        assert!(matches!(
            pt.device_values().unwrap().view::<f64>(),
            Err(Error::TypeMismatch { .. })
        ));
    }
}
