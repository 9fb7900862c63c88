// The discrete-event simulator: virtual clock, seeded PRNG, middlebox model, runner and judge.
export { VirtualClock, StalledError } from './virtual-clock.ts';
export { mulberry32, uniform, logUniform, type Rng } from './prng.ts';
export { SimulatedPath, type PathModel, type PathStats, type MiddleboxMode } from './middlebox.ts';
export { simulate, simulateBothDirections, sideBySide, type SearchFunction, type DirectionsSearchFunction, type SimulationRun, type BothDirectionsRun } from './run.ts';
export { withinPrecision, bracketContainsTruth, trueTimeoutRange } from './judge.ts';
export { predictWallRatio, type Prediction } from './predict.ts';
