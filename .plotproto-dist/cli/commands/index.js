import { analyzeCommand } from './analyze.js';
export const COMMANDS = [analyzeCommand];
//# sourceMappingURL=index.js.map