import { parsePodList } from '../../../services/cli/src/netns/pod-list';

const pods = [0, 1, 2, 3, 4, 5].map((ordinal) => ({ name: `pastry-${ordinal}`, ordinal }));

describe('parsePodList', () => {
  it('takes ordinals, names and ranges, in ordinal order without repeats', () => {
    expect(parsePodList('0,1', pods)).toEqual(['pastry-0', 'pastry-1']);
    expect(parsePodList('pastry-0,pastry-3', pods)).toEqual(['pastry-0', 'pastry-3']);
    expect(parsePodList('0-5', pods)).toEqual(pods.map((p) => p.name));
    expect(parsePodList('4, 1-2 ,pastry-1,2', pods)).toEqual(['pastry-1', 'pastry-2', 'pastry-4']);
    expect(parsePodList('3-3', pods)).toEqual(['pastry-3']);
  });

  it('rejects what is not a pod of the ring, saying what it is', () => {
    expect(() => parsePodList('', pods)).toThrow(/empty pod list/);
    expect(() => parsePodList('6', pods)).toThrow(/no pod with ordinal 6/);
    expect(() => parsePodList('4-7', pods)).toThrow(/no pod with ordinal 6/);
    expect(() => parsePodList('3-1', pods)).toThrow(/bad range "3-1"/);
    expect(() => parsePodList('pastry-9', pods)).toThrow(/bad pod "pastry-9"/);
    expect(() => parsePodList('0,,1', pods)).toThrow(/bad pod ""/);
    expect(() => parsePodList('-1', pods)).toThrow(/bad pod "-1"/);
    expect(() => parsePodList('a-b', pods)).toThrow(/bad pod "a-b"/);
  });
});
