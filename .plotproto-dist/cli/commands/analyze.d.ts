import type { CommandSpec } from './index.js';
export declare const analyzeCommand: CommandSpec;
