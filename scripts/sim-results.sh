#!/bin/bash
# Regenerates docs/results.md and docs/img/sim-*.png from otaswarm-loadtest swarm runs
# (each run starts its own otaswarm-tracker). Usage: scripts/sim-results.sh [BIN_DIR]
# BIN_DIR defaults to build/bin (built here if missing). Takes a few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN_DIR="${1:-${OTASWARM_BIN:-build/bin}}"
if [ ! -x "$BIN_DIR/otaswarm-loadtest" ] || [ ! -x "$BIN_DIR/otaswarm-tracker" ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j2 --target otaswarm-loadtest otaswarm-tracker >/dev/null
  BIN_DIR=build/bin
fi
command -v gnuplot >/dev/null || { echo "sim-results: gnuplot (gnuplot-nox) is needed for the charts" >&2; exit 2; }
export SIM_BIN="$BIN_DIR/otaswarm-loadtest"
exec /usr/bin/python3 - <<'PY'
import json, os, statistics, subprocess, sys, tempfile

BIN = os.environ["SIM_BIN"]
OUT_MD = "docs/results.md"
IMG = "docs/img"
VALIDATION_SEEDS = range(1, 11)
SEED = 1
THESIS = {"thesis-ideal": (40.66, 9.77), "thesis-general": (17.67, 4.67), "thesis-worst": (3.01, 1.95)}
SCENARIOS = ["thesis-ideal", "thesis-general", "thesis-worst", "thesis-one-wifi", "flash-1500"]
POLICIES = ["client-server", "random", "locality", "locality-punch", "otaswarm-greedy", "otaswarm"]
# Origin pacing (docs/origin-pacing.md): greedy vs paced against the issue-14 targets, seeds 1-3.
PACING_SEEDS = [1, 2, 3]
PACING = {"thesis-ideal": 65, "thesis-general": 60, "thesis-worst": 55, "flash-1500": 85}  # net saving targets, %
P95_BOUND = 1.10  # paced p95 completion <= this x client-server p95
# thesis-one-wifi: the starvation floor trades completion time for S3 bytes there.
WIFI_FLOORS = [0, 250000, 500000, 750000, 1000000, 1250000]


def run(scenario, policy, *extra, seed=SEED):
    cmd = [BIN, "swarm", "--scenario", scenario, "--policy", policy, "--seed", str(seed), "--json", *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    r = json.loads(out.stdout)
    print("  %-16s %-15s %-18s seed %-2d saving %6.2f %%" % (scenario, policy, " ".join(extra), seed, r["saving_pct"]),
          file=sys.stderr)
    return r, " ".join(["otaswarm-loadtest", *cmd[1:]])


def mb(b):
    return "%.0f" % (b / 1e6)


print("thesis validation (%d seeds)..." % len(VALIDATION_SEEDS), file=sys.stderr)
validation = {}
for s in THESIS:
    validation[s] = [run(s, "random", seed=k)[0]["saving_pct"] for k in VALIDATION_SEEDS]

print("policies x scenarios...", file=sys.stderr)
grid, commands = {}, {}
for s in SCENARIOS:
    for p in POLICIES:
        grid[(s, p)], commands[(s, p)] = run(s, p)

print("one Wi-Fi, LAN pairing modes...", file=sys.stderr)
lan = {}
for mode in ["off", "hint", "address"]:
    for p in ["locality", "otaswarm"]:
        lan[(mode, p)], commands[("lan", mode, p)] = run("thesis-one-wifi", p, "--lan-pairing", mode)

print("origin pacing, seeds %s..." % PACING_SEEDS, file=sys.stderr)
pacing = {}
for s in PACING:
    for k in PACING_SEEDS:
        for p in ["client-server", "otaswarm-greedy", "otaswarm"]:
            pacing[(s, p, k)] = grid[(s, p)] if k == SEED else run(s, p, seed=k)[0]
wifi = {}
for fl in WIFI_FLOORS:
    wifi[fl] = run("thesis-one-wifi", "otaswarm", "--origin-policy",
                   json.dumps({"starvation_floor_bytes_per_second": fl}))[0]

cal = grid[("thesis-ideal", "random")]["calibration"]
os.makedirs(IMG, exist_ok=True)


def gnuplot(script):
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


with tempfile.TemporaryDirectory() as tmp:
    # Saving by scenario and policy (grouped bars).
    data = os.path.join(tmp, "saving.dat")
    with open(data, "w") as f:
        f.write("scenario " + " ".join(POLICIES) + "\n")
        for s in SCENARIOS:
            f.write(s + " " + " ".join("%.2f" % grid[(s, p)]["saving_pct"] for p in POLICIES) + "\n")
    gnuplot(f"""set terminal pngcairo size 1000,520 font ',10'
set output '{IMG}/sim-saving.png'
set title 'S3 bytes saved vs client-server (seed {SEED})'
set ylabel 'saving %'
set yrange [0:100]
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set key top right
set grid ytics
plot for [i=2:{len(POLICIES) + 1}] '{data}' using i:xtic(1) title columnhead
""")
    # Thesis validation: measured mean ± sd vs simulated mean ± sd over seeds.
    data = os.path.join(tmp, "thesis.dat")
    with open(data, "w") as f:
        for i, (s, (m, sd)) in enumerate(THESIS.items()):
            v = validation[s]
            f.write("%d %s %.2f %.2f %.2f %.2f\n" % (i, s, m, sd, statistics.mean(v), statistics.pstdev(v)))
    gnuplot(f"""set terminal pngcairo size 800,480 font ',10'
set output '{IMG}/sim-thesis.png'
set title 'Plain random tracker: thesis measurement vs simulation (mean ± sd)'
set ylabel 'saving %'
set yrange [0:60]
set xrange [-0.5:2.5]
set grid ytics
set key top right
plot '{data}' using ($1-0.1):3:4:xtic(2) with yerrorbars lw 2 pt 7 title 'measured (thesis)', \\
     '{data}' using ($1+0.1):5:6 with yerrorbars lw 2 pt 5 title 'simulated ({len(VALIDATION_SEEDS)} seeds)'
""")
    # Flash crowd: completion times and saving per policy.
    data = os.path.join(tmp, "flash.dat")
    with open(data, "w") as f:
        for i, p in enumerate(POLICIES):
            r = grid[("flash-1500", p)]
            f.write("%d %s %.1f %.1f %.2f %.2f\n" % (i, p, r["completion_p50_s"], r["completion_p95_s"],
                                                   r["saving_pct"], 100.0 * r["cross_isp_bytes"] / max(r["peer_bytes"], 1)))
    gnuplot(f"""set terminal pngcairo size 900,480 font ',10'
set output '{IMG}/sim-flash.png'
set title 'flash-1500: S3 saving, cross-ISP share of peer bytes, completion time'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set ylabel '%'
set y2label 'seconds'
set yrange [0:100]
set y2range [0:*]
set ytics nomirror
set y2tics
set grid ytics
set key top left
plot '{data}' using 5:xtic(2) title 'saving %', '' using 6 title 'cross-ISP % of peer bytes', \\
     '' using 3 axes x1y2 title 'completion p50 (s)', '' using 4 axes x1y2 title 'completion p95 (s)'
""")

    # Origin pacing: saving and p95 / client-server p95, greedy vs paced (seed 1).
    data = os.path.join(tmp, "pacing.dat")
    with open(data, "w") as f:
        for i, sc in enumerate(PACING):
            cs = pacing[(sc, "client-server", SEED)]["completion_p95_s"]
            g, o = pacing[(sc, "otaswarm-greedy", SEED)], pacing[(sc, "otaswarm", SEED)]
            f.write("%s %.2f %.2f %.1f %.1f\n" % (sc, g["net_saving_pct"], o["net_saving_pct"],
                                                 100.0 * g["completion_p95_s"] / cs, 100.0 * o["completion_p95_s"] / cs))
    gnuplot(f"""set terminal pngcairo size 1000,480 font ',10'
set output '{IMG}/sim-pacing.png'
set title 'Origin pacing: net S3 saving and p95 completion (% of client-server p95), seed {SEED}'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set yrange [0:160]
set grid ytics
set key top left
set arrow from graph 0, first 110 to graph 1, first 110 nohead dt 2
plot '{data}' using 2:xtic(1) title 'greedy: net saving %', '' using 3 title 'paced: net saving %', \\
     '' using 4 title 'greedy: p95 % of client-server', '' using 5 title 'paced: p95 % of client-server'
""")
    data = os.path.join(tmp, "wifi.dat")
    with open(data, "w") as f:
        for fl in WIFI_FLOORS:
            f.write("%.2f %.2f %.1f\n" % (fl / 1e6, wifi[fl]["saving_pct"], wifi[fl]["completion_p95_s"]))
    gw = grid[("thesis-one-wifi", "otaswarm-greedy")]
    gnuplot(f"""set terminal pngcairo size 800,480 font ',10'
set output '{IMG}/sim-pacing-wifi.png'
set title 'thesis-one-wifi: starvation floor vs S3 saving and p95 completion (seed {SEED})'
set xlabel 'p95 completion (s)'
set ylabel 'saving %'
set grid
set key bottom right
plot '{data}' using 3:2 with linespoints lw 2 pt 7 title 'paced, floor (MB/s) as labelled', \\
     '' using 3:2:(sprintf('%.2f', $1)) with labels offset 0,1 notitle, \\
     '-' using 1:2 with points pt 5 ps 1.5 title 'greedy'
{gw["completion_p95_s"]} {gw["saving_pct"]}
e
""")

lines = []
w = lines.append
w("# Swarm simulation results")
w("")
w("Generated by `scripts/sim-results.sh` (do not edit by hand); model and assumptions in")
w("[simulation.md](simulation.md). Every peer run started a real `otaswarm-tracker` and announced")
w("over BEP 15; seed %d unless stated. Saving = 1 − S3 bytes / client-server bytes; *net* also" % SEED)
w("counts relayed bytes as egress.")
w("")
w("## Validation: plain random tracker vs the thesis measurement")
w("")
w("![thesis validation](img/sim-thesis.png)")
w("")
w("| scenario | measured | simulated, seed %d | simulated, seeds %d–%d (mean ± sd, min–max) | in range |" %
  (SEED, VALIDATION_SEEDS[0], VALIDATION_SEEDS[-1]))
w("|---|---|---|---|---|")
for s, (m, sd) in THESIS.items():
    v = validation[s]
    one = grid[(s, "random")]["saving_pct"]
    inside = sum(1 for x in v if m - sd <= x <= m + sd)
    w("| `%s` | %.2f %% ± %.2f | %.2f %% | %.2f ± %.2f (%.2f–%.2f) | %d of %d seeds |" %
      (s, m, sd, one, statistics.mean(v), statistics.pstdev(v), min(v), max(v), inside, len(v)))
w("")
w("`otaswarm-loadtest swarm --scenario thesis-worst --policy random --seed N --json`, N = %d…%d." %
  (VALIDATION_SEEDS[0], VALIDATION_SEEDS[-1]))
w("")
w("## Saving by scenario and policy")
w("")
w("![saving by scenario and policy](img/sim-saving.png)")
w("")
w("| scenario | policy | saving | net saving | S3 MB | peer MB | LAN MB | punched MB | relayed MB | cross-ISP MB | p50 s | p95 s | punches ok/tried |")
w("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for s in SCENARIOS:
    for p in POLICIES:
        r = grid[(s, p)]
        w("| `%s` | `%s` | %.2f %% | %.2f %% | %s | %s | %s | %s | %s | %s | %.0f | %.0f | %d/%d |" % (
            s, p, r["saving_pct"], r["net_saving_pct"], mb(r["s3_bytes"]), mb(r["peer_bytes"]), mb(r["lan_bytes"]),
            mb(r["punched_bytes"]), mb(r["relayed_bytes"]), mb(r["cross_isp_bytes"]), r["completion_p50_s"],
            r["completion_p95_s"], r["punch_successes"], r["punch_attempts"]))
w("")
w("Commands: `otaswarm-loadtest swarm --scenario SCENARIO --policy POLICY --seed %d --json`." % SEED)
w("")
for s in ["thesis-general", "thesis-worst", "flash-1500"]:
    base, best = grid[(s, "random")], grid[(s, "otaswarm")]
    w("- `%s`: `otaswarm` saves %.2f %% (net %.2f %%) vs %.2f %% for a plain random tracker: %+.2f points." %
      (s, best["saving_pct"], best["net_saving_pct"], base["saving_pct"], best["saving_pct"] - base["saving_pct"]))
fl_r, fl_o = grid[("flash-1500", "random")], grid[("flash-1500", "otaswarm")]
w("- `flash-1500` cross-ISP share of peer bytes: %.1f %% (random) → %.1f %% (otaswarm)." % (
    100.0 * fl_r["cross_isp_bytes"] / max(fl_r["peer_bytes"], 1), 100.0 * fl_o["cross_isp_bytes"] / max(fl_o["peer_bytes"], 1)))
w("")
w("## Origin pacing: greedy vs paced (issue 14)")
w("")
w("![origin pacing](img/sim-pacing.png)")
w("")
w("The tracker's `paced` origin policy with its defaults ([origin-pacing.md](origin-pacing.md)) against")
w("`greedy` (`otaswarm-greedy`: the web seed from the first second). Target: net saving as listed and")
w("p95 completion ≤ %.2f × the client-server p95 of the same seed." % P95_BOUND)
w("")
w("| scenario | seed | client-server p95 s | greedy: net saving | greedy: p95 s | paced: net saving | paced: p95 s | paced p95 / client-server | target | met |")
w("|---|---|---|---|---|---|---|---|---|---|")
for sc, target in PACING.items():
    for k in PACING_SEEDS:
        cs, g, o = pacing[(sc, "client-server", k)], pacing[(sc, "otaswarm-greedy", k)], pacing[(sc, "otaswarm", k)]
        ratio = o["completion_p95_s"] / cs["completion_p95_s"]
        met = o["net_saving_pct"] >= target and ratio <= P95_BOUND
        w("| `%s` | %d | %.0f | %.2f %% | %.0f | %.2f %% | %.0f | %.2f | ≥ %d %%, ≤ %.2f | %s |" % (
            sc, k, cs["completion_p95_s"], g["net_saving_pct"], g["completion_p95_s"], o["net_saving_pct"],
            o["completion_p95_s"], ratio, target, P95_BOUND, "yes" if met else "no"))
w("")
w("Commands: `otaswarm-loadtest swarm --scenario SCENARIO --policy client-server|otaswarm-greedy|otaswarm --seed N --json`.")
w("")
w('Reading the table: in the thesis set-ups pacing lifts the net saving from 33–40 % to 56–69 % on')
w('all three seeds, with p95 at 1.05–1.06 × client-server (greedy finishes sooner, 0.63 ×, because it')
w('adds peers on top of S3). `flash-1500` misses both targets: 54–56 % net (greedy 46–48 %) at')
w('1.30 × client-server p95, and greedy itself is already at 1.18–1.19 ×. Not traced further; the likely')
w('cause (unverified) is the households of up to three phones behind one 16 Mbit/s line and one Wi-Fi')
w('channel, held by their shared line and airtime rather than by S3. With 2 Mbit/s uplinks the peers cannot deliver the')
w('floor (1.25 MB/s) to a young swarm, so the valve tops most leechers up from S3 half of the time.')
w('Reaching 85 % there needs more than pacing (e.g. grants placed by household and a floor per link')
w('class); not done.')
w('')
w('`thesis-one-wifi`: the default floor (1.25 MB/s, the same for every release) keeps completion where')
w('greedy has it (287 s vs 286 s) and saves 33.71 % vs 32.45 %; a floor of 0.5 MB/s saves 65.98 % at')
w("358 s, 0.25 MB/s 79.98 % at 403 s. The default stays at 1.25 MB/s because the issue's guarantee is")
w('completion time, and a tracker cannot tell an airtime-bound household from a slow swarm; an')
w('operator who prefers S3 bytes for such a fleet lowers the floor per release (`PUT …/origin-policy`).')
w("")
w("### thesis-one-wifi: the starvation floor trades completion time for S3 bytes")
w("")
w("![one Wi-Fi pacing curve](img/sim-pacing-wifi.png)")
w("")
w("| starvation floor (bytes/s) | saving | p95 s |")
w("|---|---|---|")
w("| greedy | %.2f %% | %.0f |" % (gw["saving_pct"], gw["completion_p95_s"]))
for fl in WIFI_FLOORS:
    w("| %d | %.2f %% | %.0f |" % (fl, wifi[fl]["saving_pct"], wifi[fl]["completion_p95_s"]))
w("")
w("`otaswarm-loadtest swarm --scenario thesis-one-wifi --policy otaswarm --origin-policy '{\"starvation_floor_bytes_per_second\":F}' --json`")
w("(client-server p95 here: %.0f s)." % grid[("thesis-one-wifi", "client-server")]["completion_p95_s"])
w("")
w("## One Wi-Fi behind one home router: same-NAT LAN pairing on and off")
w("")
w("| policy | `--lan-pairing` | saving | net saving | LAN MB | relayed MB | p50 s | p95 s |")
w("|---|---|---|---|---|---|---|---|")
for p in ["locality", "otaswarm"]:
    for mode in ["off", "hint", "address"]:
        r = lan[(mode, p)]
        w("| `%s` | `%s` | %.2f %% | %.2f %% | %s | %s | %.0f | %.0f |" % (
            p, mode, r["saving_pct"], r["net_saving_pct"], mb(r["lan_bytes"]), mb(r["relayed_bytes"]),
            r["completion_p50_s"], r["completion_p95_s"]))
w("")
w("`otaswarm-loadtest swarm --scenario thesis-one-wifi --policy otaswarm --lan-pairing off|hint|address --json`.")
w("`off`: phones send `localip` without the `lan` hint and the tracker (`--lan-pairing-requires-hint`, the")
w("default) hands out only the shared public address, which the router does not hairpin; `hint`: the")
w("update backend's `?lan=` hint pairs them on their LAN addresses; `address`: no hint, tracker with")
w("`--lan-pairing-requires-hint false`. A plain random tracker (`random`) saves %.2f %% here." %
  grid[("thesis-one-wifi", "random")]["saving_pct"])
w("Phone-to-phone bytes cross the shared Wi-Fi twice (phone → access point → phone), so with the")
w("channel as the bottleneck LAN pairing trades completion time for S3 bytes.")
w("")
w("## flash-1500")
w("")
w("![flash-1500](img/sim-flash.png)")
w("")
fl_l = grid[("flash-1500", "locality")]
w("`otaswarm` saves %.2f %% against %.2f %% for `locality` (no NAT tickets, no punching): punched" %
  (fl_o["saving_pct"], fl_l["saving_pct"]))
w("and relayed connections carry %s MB, peers move %s MB in all (`locality`: %s MB), and LAN siblings" %
  (mb(fl_o["punched_bytes"] + fl_o["relayed_bytes"]), mb(fl_o["peer_bytes"]), mb(fl_l["peer_bytes"])))
w("still move %s MB (`locality`: %s MB). Two parts of the phone model make this hold (see" % (mb(fl_o["lan_bytes"]), mb(fl_l["lan_bytes"])))
w("[simulation.md](simulation.md#why-locality-once-beat-otaswarm)): a phone drops a connection when both ends")
w("are seeds (%d such connections here), so seeders keep slots free for new leechers, and LAN" % fl_o["seed_pairs_closed"])
w("siblings are unchoked outside the upload slots, so punched internet peers do not crowd them out.")
w("")
w("Relays are admitted by the rendezvous's `RelayBudget` with its default flags: at most %d concurrent" % fl_o["relay_capacity"])
w("sessions for the release (10 MiB/s ÷ 256 KiB/s per pair); %d were held at the peak, %d relayed" %
  (fl_o["relay_sessions_peak"], fl_o["connections"]["relayed"]))
w("connections formed and %d relay requests were refused. A slot stays held for the session TTL" % fl_o["relay_refused"])
w("(600 s) after its connection ends, since the budget has no release call, so in a flash crowd the")
w("first relayed pairs keep the budget and later ones are refused.")
w("")
w("Runs are repeatable: the simulator seeds the tracker's selection (`--selection-seed`), so the same")
w("`--seed` prints the same JSON.")
w("")
w("## Calibration used")
w("")
w("| key | value |")
w("|---|---|")
for k, v in cal.items():
    w("| `%s` | %s |" % (k, ("%g" % v) if isinstance(v, float) else v))
with open(OUT_MD, "w") as f:
    f.write("\n".join(lines) + "\n")
print("wrote %s and %s/sim-{saving,thesis,flash,pacing,pacing-wifi}.png" % (OUT_MD, IMG), file=sys.stderr)
PY
