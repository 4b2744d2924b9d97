import { balanceOf } from '../../../services/cli/src/commands';

const member = (name: string, objects: number, bytes: number) => ({ name, id: name.padEnd(32, '0'), address: `${name}:7000`, objects, bytes });

describe('balanceOf', () => {
  it('gives totals, mean, the fullest member and max/mean', () => {
    const r = balanceOf([member('a', 10, 100), member('b', 30, 50), member('c', 20, 150)]);
    expect(r.objects).toEqual({ total: 60, mean: 20, max: 30, maxMember: 'b', maxOverMean: 1.5 });
    expect(r.bytes).toEqual({ total: 300, mean: 100, max: 150, maxMember: 'c', maxOverMean: 1.5 });
    expect(r.members.map((m) => m.name)).toEqual(['a', 'b', 'c']);
  });

  it('says nothing is stored rather than dividing by zero', () => {
    expect(balanceOf([member('a', 0, 0), member('b', 0, 0)]).objects).toEqual({ total: 0, mean: 0, max: 0, maxMember: 'a', maxOverMean: null });
    expect(balanceOf([]).bytes).toEqual({ total: 0, mean: 0, max: 0, maxMember: null, maxOverMean: null });
  });
});
