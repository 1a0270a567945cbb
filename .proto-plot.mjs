import { renderAnalysisPlot } from './.plotproto-dist/analysis/plot.js';
import { writeFileSync } from 'node:fs';
const N = 20000;
const normal = Float64Array.from({length: 600}, (_, i) => 800 + 300*Math.sin(i/7) + Math.random()*200);
const bulk = Float64Array.from({length: 120}, () => 80000 + Math.random()*2000);
const stealth = Float64Array.from({length: N}, (_, i) => 800 + Math.random()*400 + (i===12345? 9000:0));
const x = Array.from({length: 200}, (_, i) => i===0?0: 1e-6*Math.pow(10, i/30)); const f = x.map((_, i)=> (i+1)/200);
const t0 = Date.now();
const input = { title: 'normal vs bulk vs <stealth>', series: [
  { name: 'normal', binSeconds: 1, packets: normal, bytes: normal.map(v=>v*900) },
  { name: 'bulk', binSeconds: 1, packets: bulk, bytes: bulk.map(v=>v*1400) },
  { name: 'stealth <script>', binSeconds: 0.5, packets: stealth, bytes: stealth.map(v=>v*900) },
  { name: 'empty', binSeconds: 1, packets: [], bytes: [] }],
  ecdfs: [ { feature: 'iat', unit: 's', reference: 'normal', subject: 'bulk', ref: {x, f}, sub: {x: x.map(v=>v*3), f}, statistic: 0.2345, pvalue: 1.2e-9, n: 5000, m: 6000, distinguishable: true },
   { feature: 'size', unit: 'B', reference: 'normal', subject: 'empty', ref: {x: [], f: []}, sub: {x: [], f: []}, statistic: 0, pvalue: 1, n: 0, m: 0, distinguishable: false },
   { feature: 'packets_per_bin', unit: 'packets', reference: 'normal', subject: 'stealth <script>', ref: {x:[1,2,3], f:[.2,.5,1]}, sub: {x:[1,2,4], f:[.1,.6,1]}, statistic: 0.1, pvalue: 0.5, n: 600, m: 20000, distinguishable: false },
  ] };
const svg = await renderAnalysisPlot(input, 'svg');
console.log(Date.now()-t0, svg.length);
writeFileSync('/tmp/plotproto/out.svg', svg);
writeFileSync('/tmp/plotproto/out.html', await renderAnalysisPlot(input, 'html'));
