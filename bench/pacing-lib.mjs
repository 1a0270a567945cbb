// What `npm run bench:pacing` and `bench:estimate` use (src/bench/loopback-cluster.ts, exported as smig/bench):
// a normal capture cut into a learning part and a hold-out part, a migration cluster of real `smig` processes on
// 127.0.0.1 whose paced links tcpdump records, and `smig analyze` of a recorded link against the hold-out.
export {
  analyzeLink,
  busiestPeerPort,
  FIXTURE_CAPTURES as CAPTURES,
  migrateCaptured as migrate,
  randomFile,
  runProc as run,
  sessionEvents as events,
  splitBlocks,
  startCluster,
  startTcpdump,
  stopProc as stop,
} from 'smig/bench';
