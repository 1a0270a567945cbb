/** One Suricata EVE `alert` line (as Suricata writes it) from `src` to `dest`, for the controller tests. */
export function alertLine(src: string, dest: string, severity = 2, sid = 2001219): string {
  return JSON.stringify({
    timestamp: '2024-05-01T10:00:00.123456+0000',
    flow_id: 1251512345687,
    in_iface: 'eth0',
    event_type: 'alert',
    src_ip: src,
    src_port: 51234,
    dest_ip: dest,
    dest_port: 22,
    proto: 'TCP',
    pkt_src: 'wire/pcap',
    alert: {
      action: 'allowed',
      gid: 1,
      signature_id: sid,
      rev: 20,
      signature: 'ET SCAN Potential SSH Scan OUTBOUND',
      category: 'Attempted Information Leak',
      severity,
    },
    flow: {
      pkts_toserver: 3,
      pkts_toclient: 1,
      bytes_toserver: 222,
      bytes_toclient: 74,
      start: '2024-05-01T10:00:00.000000+0000',
    },
  });
}
