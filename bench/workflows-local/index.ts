export { processCommand } from './process-command';
