/** The pure domain of spice-oms: commands, events, decide/evolve. No I/O anywhere below this folder. */
export * from './errors';
export * from './identifiers';
export * from './ontology-class';
export * from './property-types';
export * from './commands';
export * from './events';
export * from './state';
export * from './evolve';
export * from './instance-validation';
export * from './decide';
export * from './upcasters';
export * from './personal-data';
export { formatPath } from './paths';
