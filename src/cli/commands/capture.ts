/** `smig capture -i IFACE [-f BPF] -w FILE [--duration DUR] [--count N]`: live capture to pcap (docs/DESIGN.md §2, §6). */

import type { Command } from 'commander';
import { Option } from 'commander';
import { smigError } from '../../errors.js';
import { parseDuration, parseSize } from '../../util/units.js';
import type { CliIO } from '../io.js';
import { argParser, parseCount } from '../options.js';
import { ensureParentDir } from '../output.js';
import type { CommandSpec } from '../spec.js';

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
Timestamps and lengths are libpcap's own (the kernel's stamps, caplen and original length of each record),
written as tcpdump writes them: microseconds (the binding does not ask libpcap for nanoseconds, so
--nanosecond writes a nanosecond pcap whose stamps end in 000).

Drops: the kernel's drop count (pcap_stats) is reported at the end. libpcap runs in immediate mode: one
ring slot per packet, sized to the MTU when the interface has no offloads on, else to the snap length. On lo
or an offloading NIC the default 64MiB ring holds only a few hundred packets at the default -s 262144; a
smaller -s or a larger -B holds more (tens of thousands with offloads off, as on smig lab links with ethtool
installed). Packets smig itself dropped because the output lagged are counted too. On SIGINT/SIGTERM/
--duration, packets already in the ring are written first.
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
      .option('-i, --interface <iface>', "interface to capture on (any: all of this namespace's)")
      .option('-f, --filter <bpf>', 'libpcap filter expression, full pcap-filter(7) syntax (as tcpdump)')
      .option('-w, --write <file>', 'pcap file to write (- for stdout)')
      .option(
        '--duration <dur>',
        'stop after this long (1s, 500ms, 2m)',
        argParser((t) => parseDuration(t, '--duration')),
      )
      .option('-c, --count <n>', 'stop after N packets', argParser(parseCount(1)))
      .option('-s, --snaplen <n>', 'bytes kept of each packet, 1..262144', argParser(parseCount(1)), 262144)
      .option('--nanosecond', "write a nanosecond pcap (magic a1b23c4d); the stamps keep libpcap's microseconds")
      .addOption(
        new Option(
          '-B, --buffer-size <size>',
          "libpcap's kernel ring: how far smig may fall behind before the kernel drops (below)",
        )
          .argParser(argParser((t) => parseSize(t, '--buffer-size')))
          .default(64 * 1024 * 1024, '64MiB'),
      )
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
      else
        for (const d of devices)
          io.stdout.write(
            `${d.name}${d.loopback ? ' [loopback]' : ''}${d.addresses.length ? ` ${d.addresses.join(' ')}` : ''}${d.description ? ` (${d.description})` : ''}\n`,
          );
      return 0;
    }
    if (!opts.interface) throw smigError('SMIG_ERR_USAGE', 'no interface given (-i IFACE; smig capture -D lists them)');
    if (!opts.write) throw smigError('SMIG_ERR_USAGE', 'no output given (-w FILE, or -w - for stdout)');
    const toStdout = opts.write === '-';
    if (toStdout && opts.json) throw smigError('SMIG_ERR_USAGE', '--json prints on stdout, which -w - already uses');
    if (toStdout && io.stdout !== process.stdout)
      throw smigError('SMIG_ERR_USAGE', '-w -: stdout is not a byte stream here');
    if (!toStdout) await ensureParentDir(opts.write, '-w');
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
    io.stderr.write(
      `smig capture: listening on ${opts.interface}, link-type ${capture.linktype}, snaplen ${opts.snaplen}${opts.filter ? `, filter '${opts.filter}'` : ''}\n`,
    );
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
        `${s.kernelDropped === null ? 'kernel drops unknown' : `${s.kernelDropped} dropped by the kernel`}, ${s.writerDropped} dropped by smig (output lagging); stopped by ${s.reason}\n`,
    );
    if (opts.json) {
      const { startNs, endNs, ...rest } = s;
      io.stdout.write(
        `${JSON.stringify({ ...rest, file: opts.write, startTs: nsToDecimal(startNs), endTs: nsToDecimal(endNs) }, null, 2)}\n`,
      );
    }
    return 0;
  },
};
