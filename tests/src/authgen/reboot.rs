//! One reboot: what systemd, sshd and logind log as the host goes down,
//! and the kernel and systemd lines of the boot.

use rand::Rng;

use super::clock::SEC;
use super::{Gen, Kind, Proc};

/// A reboot at `t`: shutdown lines, 20 to 60 s of silence, then the boot:
/// kernel, systemd, sshd, logind, cron, in 100 to 300 lines within a few
/// seconds. The same lines on every host and every boot, but for numbers
/// and how many devices there are.
pub(super) fn reboot(g: &mut Gen, h: usize, t: i64) {
    let host = g.hosts[h].name.clone();
    g.begin_episode(t, Kind::Reboot, h, format!("host={host}"), Vec::new());
    let logind = g.hosts[h].logind[0];
    let mut at = t;
    let sys = |g: &mut Gen, at: &mut i64, prog: &'static str, p: Proc, msg: String| {
        *at += g.rng.gen_range(500..60_000);
        g.emit(*at, h, prog, p, msg);
    };
    sys(
        g,
        &mut at,
        "systemd-logind",
        logind,
        "The system will reboot now!".into(),
    );
    sys(
        g,
        &mut at,
        "systemd-logind",
        logind,
        "System is rebooting.".into(),
    );
    // The listener started at the previous boot, with a low pid.
    let sshd = Proc::Fixed(g.rng.gen_range(500..900));
    for (unit, desc) in UNITS.iter().take(8) {
        sys(
            g,
            &mut at,
            "systemd",
            Proc::Fixed(1),
            format!("Stopping {unit} - {desc}..."),
        );
    }
    sys(
        g,
        &mut at,
        "sshd",
        sshd,
        "Received signal 15; terminating.".into(),
    );
    for (unit, desc) in UNITS.iter().take(8) {
        sys(
            g,
            &mut at,
            "systemd",
            Proc::Fixed(1),
            format!("{unit}: Deactivated successfully."),
        );
        sys(
            g,
            &mut at,
            "systemd",
            Proc::Fixed(1),
            format!("Stopped {unit} - {desc}."),
        );
    }
    sys(
        g,
        &mut at,
        "systemd",
        Proc::Fixed(1),
        "Reached target reboot.target - System Reboot.".into(),
    );
    let down_from = t;
    // The boot.
    let boot = at + g.rng.gen_range(20 * SEC..60 * SEC);
    let mut up = 0i64; // kernel uptime, microseconds
                       // A kernel line at the uptime `up`, which then moves on a little.
    let k = |g: &mut Gen, up: &mut i64, msg: String| {
        let secs = *up / SEC;
        let micros = *up % SEC;
        g.emit(
            boot + *up,
            h,
            "kernel",
            Proc::None,
            format!("[{secs:>5}.{micros:06}] {msg}"),
        );
        *up += g.rng.gen_range(0..9_000);
    };
    k(g, &mut up, "Linux version 6.1.0-26-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.112-1 (2024-09-30)".into());
    g.events.last_mut().expect("just emitted").boot = true;
    k(g, &mut up, "Command line: BOOT_IMAGE=/boot/vmlinuz-6.1.0-26-amd64 root=UUID=6f1c2a8e-3b7d-4e59-9a0c-1d2e3f4a5b6c ro quiet".into());
    k(g, &mut up, "BIOS-provided physical RAM map:".into());
    for (a, b, what) in [
        (0x0u64, 0x9fbffu64, "usable"),
        (0x9fc00, 0x9ffff, "reserved"),
        (0xf0000, 0xfffff, "reserved"),
        (0x100000, 0xbffdafff, "usable"),
        (0xbffdb000, 0xbfffffff, "reserved"),
        (0xfeffc000, 0xfeffffff, "reserved"),
    ] {
        k(
            g,
            &mut up,
            format!("BIOS-e820: [mem 0x{a:016x}-0x{b:016x}] {what}"),
        );
    }
    for msg in [
        "NX (Execute Disable) protection: active",
        "SMBIOS 2.8 present.",
        "DMI: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014",
        "Hypervisor detected: KVM",
        "ACPI: Early table checksum verification disabled",
    ] {
        k(g, &mut up, msg.into());
    }
    let mhz = g.rng.gen_range(2_000_000..3_400_000);
    k(
        g,
        &mut up,
        format!(
            "tsc: Detected {}.{:03} MHz processor",
            mhz / 1000,
            mhz % 1000
        ),
    );
    let mem = g.rng.gen_range(3_900_000..4_050_000);
    k(g, &mut up, format!("Memory: {mem}K/4193784K available (14343K kernel code, 2349K rwdata, 9124K rodata, 2812K init, 17456K bss, {}K reserved, 0K cma-reserved)", 4_193_784 - mem));
    k(g, &mut up, "smpboot: CPU0: Intel Xeon Processor (Skylake, IBRS) (family: 0x6, model: 0x55, stepping: 0x4)".into());
    // Devices: how many varies by host, so the boot is 100 to 300 lines.
    let devices = g.rng.gen_range(30..=120);
    for i in 0..devices {
        let (dev, func) = (i / 8, i % 8);
        let class = ["0x060000", "0x010601", "0x020000", "0x030000", "0x0c0300"][i % 5];
        k(
            g,
            &mut up,
            format!(
                "pci 0000:00:{dev:02x}.{func}: [1af4:10{:02x}] type 00 class {class}",
                i % 64
            ),
        );
    }
    for msg in [
        "NET: Registered PF_INET protocol family",
        "piix4_smbus 0000:00:01.3: SMBus Host Controller not enabled!",
        "virtio_net virtio0 ens3: renamed from eth0",
        "EXT4-fs (vda1): mounted filesystem with ordered data mode. Quota mode: none.",
        "random: crng init done",
        "EXT4-fs (vda1): re-mounted. Quota mode: none.",
    ] {
        k(g, &mut up, msg.into());
    }
    for profile in [
        "/usr/bin/man",
        "lsb_release",
        "nvidia_modprobe",
        "/usr/sbin/chronyd",
    ] {
        let (now, serial, pid) = (boot + up, g.rng.gen_range(2..9), g.rng.gen_range(400..600));
        k(g, &mut up, format!("audit: type=1400 audit({}.{:03}:{serial}): apparmor=\"STATUS\" operation=\"profile_load\" profile=\"unconfined\" name=\"{profile}\" pid={pid} comm=\"apparmor_parser\"", now / SEC, now % SEC / 1000));
    }
    let mut at = boot + up;
    let one = Proc::Fixed(1);
    sys(g, &mut at, "systemd", one, "systemd 252.30-1~deb12u2 running in system mode (+PAM +AUDIT +SELINUX +APPARMOR +IMA +SMACK +SECCOMP +GCRYPT -GNUTLS +OPENSSL +ACL +BLKID +CURL +ELFUTILS +FIDO2 +IDN2 -IDN +IPTC +KMOD +LIBCRYPTSETUP +LIBFDISK +PCRE2 -PWQUALITY +P11KIT +QRENCODE +TPM2 +BZIP2 +LZ4 +XZ +ZLIB +ZSTD -BPF_FRAMEWORK -XKBCOMMON +UTMP +SYSVINIT default-hierarchy=unified)".into());
    sys(
        g,
        &mut at,
        "systemd",
        one,
        "Detected virtualization kvm.".into(),
    );
    sys(
        g,
        &mut at,
        "systemd",
        one,
        "Detected architecture x86-64.".into(),
    );
    sys(
        g,
        &mut at,
        "systemd",
        one,
        format!("Hostname set to <{host}>."),
    );
    sys(
        g,
        &mut at,
        "systemd",
        one,
        "Queued start job for default target graphical.target.".into(),
    );
    for (unit, desc) in UNITS {
        sys(
            g,
            &mut at,
            "systemd",
            one,
            format!("Starting {unit} - {desc}..."),
        );
    }
    for target in [
        "local-fs.target - Local File Systems",
        "network.target - Network",
        "sysinit.target - System Initialization",
    ] {
        sys(
            g,
            &mut at,
            "systemd",
            one,
            format!("Reached target {target}."),
        );
    }
    let new_logind = g.proc_();
    g.hosts[h].logind[1] = new_logind;
    let new_sshd = g.proc_();
    let cron = g.proc_();
    for (unit, desc) in UNITS {
        sys(
            g,
            &mut at,
            "systemd",
            one,
            format!("Started {unit} - {desc}."),
        );
        match unit {
            "ssh.service" => {
                sys(
                    g,
                    &mut at,
                    "sshd",
                    new_sshd,
                    "Server listening on 0.0.0.0 port 22.".into(),
                );
                sys(
                    g,
                    &mut at,
                    "sshd",
                    new_sshd,
                    "Server listening on :: port 22.".into(),
                );
            }
            "systemd-logind.service" => {
                sys(
                    g,
                    &mut at,
                    "systemd-logind",
                    new_logind,
                    "New seat seat0.".into(),
                );
                sys(
                    g,
                    &mut at,
                    "systemd-logind",
                    new_logind,
                    "Watching system buttons on /dev/input/event0 (Power Button)".into(),
                );
            }
            "cron.service" => {
                sys(
                    g,
                    &mut at,
                    "cron",
                    cron,
                    "(CRON) INFO (pidfile fd = 3)".into(),
                );
                sys(
                    g,
                    &mut at,
                    "cron",
                    cron,
                    "(CRON) INFO (Running @reboot jobs)".into(),
                );
            }
            _ => {}
        }
    }
    sys(
        g,
        &mut at,
        "systemd",
        one,
        "systemd-networkd-wait-online.service: Main process exited, code=exited, status=1/FAILURE"
            .into(),
    );
    sys(
        g,
        &mut at,
        "systemd",
        one,
        "systemd-networkd-wait-online.service: Failed with result 'exit-code'.".into(),
    );
    sys(
        g,
        &mut at,
        "systemd",
        one,
        "Failed to start systemd-networkd-wait-online.service - Wait for Network to be Configured."
            .into(),
    );
    for target in [
        "network-online.target - Network is Online",
        "multi-user.target - Multi-User System",
        "graphical.target - Graphical Interface",
    ] {
        sys(
            g,
            &mut at,
            "systemd",
            one,
            format!("Reached target {target}."),
        );
    }
    let took = at - boot;
    sys(
        g,
        &mut at,
        "systemd",
        one,
        format!(
            "Startup finished in 2.021s (kernel) + {}.{:03}s (userspace) = {}.{:03}s.",
            took / SEC,
            took % SEC / 1000,
            took / SEC + 2,
            took % SEC / 1000
        ),
    );
    g.end_episode();
    g.hosts[h].down = (down_from, at);
}

/// Units a boot starts (and a shutdown stops the first 8 of).
const UNITS: [(&str, &str); 16] = [
    ("ssh.service", "OpenBSD Secure Shell server"),
    (
        "cron.service",
        "Regular background program processing daemon",
    ),
    (
        "nginx.service",
        "A high performance web server and a reverse proxy server",
    ),
    ("rsyslog.service", "System Logging Service"),
    ("systemd-logind.service", "User Login Management"),
    ("chrony.service", "chrony, an NTP client/server"),
    ("docker.service", "Docker Application Container Engine"),
    ("containerd.service", "containerd container runtime"),
    ("systemd-journald.service", "Journal Service"),
    (
        "systemd-udevd.service",
        "Rule-based Manager for Device Events and Files",
    ),
    ("systemd-networkd.service", "Network Configuration"),
    ("systemd-resolved.service", "Network Name Resolution"),
    ("systemd-timesyncd.service", "Network Time Synchronization"),
    ("apparmor.service", "Load AppArmor profiles"),
    (
        "systemd-tmpfiles-setup.service",
        "Create Volatile Files and Directories",
    ),
    ("dbus.service", "D-Bus System Message Bus"),
];
