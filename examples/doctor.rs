//! The dd-trace doctor: run it with the environment of your app (in a pod: `kubectl exec` into
//! the container, or as an init container with the same `DD_*` variables and volumes) to learn,
//! in one screen, why traces are or are not arriving.
//!
//! ```text
//! cargo run --example doctor
//! DD_TRACE_AGENT_URL=unix:///var/run/datadog/apm.socket cargo run --example doctor
//! ```
//!
//! It checks the configuration, the agent's address and why it was chosen, the socket or host
//! name, the connection and the agent's `/info`, then sends one test trace (operation
//! `dd_trace.doctor`) and prints the tracer's status. `--flare DIR` also writes a tracer flare
//! there. The exit code is 0 when the agent accepted the test trace, 1 otherwise.

fn main() {
    let diagnosis = dd_trace::diagnose();
    print!("{diagnosis}");
    let mut args = std::env::args().skip(1);
    if let (Some(flag), Some(dir)) = (args.next(), args.next()) {
        if flag == "--flare" {
            write_flare(std::path::Path::new(&dir));
        }
    }
    std::process::exit(if diagnosis.traces_arrive() { 0 } else { 1 });
}

/// Writes a flare of a tracer configured as the app's (it has sent nothing, but shows the
/// configuration in effect, versions and any warning).
fn write_flare(dir: &std::path::Path) {
    match dd_trace::DatadogLayer::builder()
        .with_startup_logs(false)
        .build()
    {
        Ok((_layer, guard)) => match guard.flare().write_to_dir(dir) {
            Ok(path) => println!("\ntracer flare written to {}", path.display()),
            Err(e) => eprintln!("\ncould not write the flare into {}: {e}", dir.display()),
        },
        Err(e) => eprintln!("\ncould not build a tracer for the flare: {e}"),
    }
}
