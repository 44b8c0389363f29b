//! `ferry-delay-proxy LISTEN_PORT UPSTREAM_PORT DELAY_MS [JITTER_MS]`: the harness's delaying TCP
//! proxy (`ferry_e2e::proxy`) as a process, for the benchmarks: connections to 127.0.0.1:LISTEN_PORT
//! reach 127.0.0.1:UPSTREAM_PORT with DELAY_MS ± JITTER_MS added to every round trip. Runs until
//! killed.

use ferry_e2e::proxy::{DelayProxy, LinkDelay};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, what: &str| -> u64 {
        match args.get(i).map(|a| a.parse::<u64>()) {
            Some(Ok(n)) => n,
            None if i == 3 => 0,
            _ => {
                eprintln!(
                    "ferry-delay-proxy: {what}: expected a number\nusage: ferry-delay-proxy LISTEN_PORT UPSTREAM_PORT DELAY_MS [JITTER_MS]"
                );
                std::process::exit(2);
            }
        }
    };
    let (listen, upstream) = (number(0, "LISTEN_PORT"), number(1, "UPSTREAM_PORT"));
    let delay = LinkDelay::ms(number(2, "DELAY_MS"), number(3, "JITTER_MS"));
    let (Ok(listen), Ok(upstream)) = (u16::try_from(listen), u16::try_from(upstream)) else {
        eprintln!("ferry-delay-proxy: ports are at most 65535");
        std::process::exit(2);
    };
    let proxy = match DelayProxy::listen(([127, 0, 0, 1], listen).into(), ([127, 0, 0, 1], upstream).into(), delay).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ferry-delay-proxy: cannot listen on 127.0.0.1:{listen}: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "ferry-delay-proxy: 127.0.0.1:{} -> 127.0.0.1:{upstream}, {:?} ± {:?} per round trip",
        proxy.port(),
        delay.round_trip,
        delay.jitter
    );
    let _ = tokio::signal::ctrl_c().await;
}
