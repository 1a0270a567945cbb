// pcap-parser ships no types; the tests use it only as a cross-check of our reader.
declare module 'pcap-parser';
