/** `smig capture -i IFACE [-f BPF] -w FILE [--duration DUR] [--count N]`: live capture to pcap (DESIGN §2, §6). */
import { Option } from 'commander';
import type { Command } from 'commander';
import { smigError } from '../../errors.js';
import { parseDuration, parseSize } from '../../util/units.js';
import { argParser } from '../io.js';
import type { CliIO } from '../io.js';
import type { CommandSpec } from './index.js';
import { parseCount } from './relay.js';

interface CaptureFlags {
  interface?: string;
  filter?: string;
  write?: string;
  duration?: bigint;
  count?: number;
  snaplen: number;
  nanosecond?: boolean;
  bufferSize: number;
  json?: boolean;
  listInterfaces?: boolean;
}

const TIMESTAMPS = `
Timestamps: cap (the libpcap binding) does not pass on libpcap's kernel timestamps, so smig stamps each
packet when libpcap hands it over (immediate mode): a monotonic clock anchored once to the wall clock,
written in µs (truncated) or, with --nanosecond, in ns. Under load a backlog is stamped late and close
together; use tcpdump when kernel timestamps matter. libpcap's snap length is fixed at 65535 by cap: a
longer packet (loopback GSO frames reach 64 KiB) and any packet cut by --snaplen keeps its true original
length when it is IP (rebuilt from the IP length field).

Drops: cap does not expose pcap_stats, so kernel drops are not reported. cap's immediate mode makes
libpcap use one ring slot per packet, sized to the MTU when the interface has no offloads on, else to
64 KiB: the default 64MiB ring holds ~1,000 packets on lo or an offloading NIC (tens of thousands
with offloads off, as on smig lab links with ethtool installed). Give a busy capture a larger -B. Packets smig itself dropped because the
output lagged are counted. On SIGINT/SIGTERM/--duration, packets already in the ring are written first.
`;

export const captureCommand: CommandSpec = {
  name: 'capture',
  summary: 'capture packets from an interface into a pcap (libpcap filter syntax), like tcpdump -w',
  examples: [
    'smig capture -i lo -f "tcp port 7100" -w lo.pcap --duration 30s',
    'smig capture -i eth0 -w - -c 1000 | tshark -r -',
    'smig lab exec lab1 br -- smig capture -i vh2 -w /tmp/h2.pcap --duration 10s',
    'smig capture -D',
  ],
  configure(cmd: Command): void {
    cmd
      .option('-i, --interface <iface>', 'interface to capture on (any: all of this namespace\'s)')
      .option('-f, --filter <bpf>', 'libpcap filter expression, full pcap-filter(7) syntax (as tcpdump)')
      .option('-w, --write <file>', 'pcap file to write (- for stdout)')
      .option('--duration <dur>', 'stop after this long (1s, 500ms, 2m)', argParser((t) => parseDuration(t, '--duration')))
      .option('-c, --count <n>', 'stop after N packets', argParser(parseCount(1)))
      .option('-s, --snaplen <n>', 'bytes kept of each packet, 1..65535', argParser(parseCount(1)), 65535)
      .option('--nanosecond', 'write nanosecond timestamps (pcap magic a1b23c4d) instead of microseconds')
      .addOption(new Option('-B, --buffer-size <size>', 'libpcap\'s kernel ring: how far smig may fall behind before the kernel drops (below)')
        .argParser(argParser((t) => parseSize(t, '--buffer-size'))).default(64 * 1024 * 1024, '64MiB'))
      .option('--json', 'print the summary as JSON on stdout')
      .option('-D, --list-interfaces', 'list the interfaces libpcap can open here, and exit')
      .addHelpText('after', TIMESTAMPS);
  },
  async run(_args: string[], rawOpts: Record<string, unknown>, io: CliIO): Promise<number> {
    const opts = rawOpts as unknown as CaptureFlags;
    const { LiveCapture, listDevices } = await import('../../capture/live.js');
    if (opts.listInterfaces) {
      const devices = await listDevices();
      if (opts.json) io.stdout.write(`${JSON.stringify(devices, null, 2)}\n`);
      else for (const d of devices) io.stdout.write(`${d.name}${d.loopback ? ' [loopback]' : ''}${d.addresses.length ? ` ${d.addresses.join(' ')}` : ''}${d.description ? ` (${d.description})` : ''}\n`);
      return 0;
    }
    if (!opts.interface) throw smigError('SMIG_ERR_USAGE', 'no interface given (-i IFACE; smig capture -D lists them)');
    if (!opts.write) throw smigError('SMIG_ERR_USAGE', 'no output given (-w FILE, or -w - for stdout)');
    const toStdout = opts.write === '-';
    if (toStdout && opts.json) throw smigError('SMIG_ERR_USAGE', '--json prints on stdout, which -w - already uses');
    if (toStdout && io.stdout !== process.stdout) throw smigError('SMIG_ERR_USAGE', '-w -: stdout is not a byte stream here');
    const capture = await LiveCapture.open({
      interface: opts.interface,
      filter: opts.filter ?? '',
      output: toStdout ? process.stdout : opts.write,
      snaplen: opts.snaplen,
      nanosecond: opts.nanosecond ?? false,
      bufferSize: opts.bufferSize,
      ...(opts.count !== undefined ? { count: opts.count } : {}),
      ...(opts.duration !== undefined ? { durationNs: opts.duration } : {}),
    });
    const onSignal = (): void => void capture.stop('signal');
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    io.stderr.write(`smig capture: listening on ${opts.interface}, link-type ${capture.linktype}, snaplen ${opts.snaplen}${opts.filter ? `, filter '${opts.filter}'` : ''}\n`);
    let s;
    try {
      s = await capture.done;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    const { nsToDecimal } = await import('../../analysis/report.js');
    io.stderr.write(
      `${s.packets} packets captured (${s.bytes} bytes${s.truncated ? `, ${s.truncated} cut to the snaplen` : ''}), ` +
        `${s.writerDropped} dropped by smig (output lagging), kernel drops unknown (cap does not expose pcap_stats); stopped by ${s.reason}\n`,
    );
    if (opts.json) {
      const { startNs, endNs, ...rest } = s;
      io.stdout.write(`${JSON.stringify({ ...rest, file: opts.write, startTs: nsToDecimal(startNs), endTs: nsToDecimal(endNs) }, null, 2)}\n`);
    }
    return 0;
  },
};
