/** Every subset of {0, ..., n-1}, as sorted index lists, in mask order. */
export function subsets(n: number): number[][] {
  const all: number[][] = [];
  for (let mask = 0; mask < 1 << n; mask++) all.push([...Array(n).keys()].filter((i) => mask & (1 << i)));
  return all;
}
