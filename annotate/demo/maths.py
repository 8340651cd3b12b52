"""Parametric maths problems for the demo: each gives a prompt, a correct worked solution and a
plausible wrong one (a classic slip), with numbers drawn from a seeded generator."""

import math


def _money(x):
    return f"${x:,.2f}"


def speed(rng):
    d, h, m = rng.choice([18, 24, 36, 42, 55, 63]), rng.randint(1, 3), rng.choice([15, 20, 30, 45])
    right, wrong = d / (h + m / 60), d / (h + m / 100)
    prompt = f"A cyclist covers {d} km in {h} hours {m} minutes. What is her average speed in km/h?"
    good = (
        f"Convert the time to hours first: {m} minutes = {m}/60 = {m / 60:.2f} h, so the total is {h + m / 60:.2f} h.\n\n"
        f"Average speed = distance / time = {d} / {h + m / 60:.2f} ≈ **{right:.1f} km/h**."
    )
    bad = f"Time = {h}.{m} hours, so speed = {d} / {h}.{m} ≈ **{wrong:.1f} km/h**."
    return prompt, good, bad


def discount(rng):
    p, a, b = rng.choice([80, 120, 150, 240, 99]), rng.choice([20, 25, 30]), rng.choice([10, 15])
    right, wrong = p * (1 - a / 100) * (1 - b / 100), p * (1 - (a + b) / 100)
    prompt = f"A jacket costs ${p}. It is reduced by {a}% and then a further {b}% comes off at checkout. What is the final price?"
    good = (
        f"Discounts apply one after the other, not added together.\n\n"
        f"- After {a}% off: {p} × {1 - a / 100:.2f} = {_money(p * (1 - a / 100))}\n"
        f"- After a further {b}%: {_money(p * (1 - a / 100))} × {1 - b / 100:.2f} = **{_money(right)}**\n\n"
        f"That's a total reduction of {100 * (1 - right / p):.1f}%, slightly less than {a + b}%."
    )
    bad = f"Total discount is {a}% + {b}% = {a + b}%, so the price is {p} × {1 - (a + b) / 100:.2f} = **{_money(wrong)}**."
    return prompt, good, bad


def compound(rng):
    principal, rate, years = rng.choice([1000, 2500, 5000, 10000]), rng.choice([3, 4, 5, 6]), rng.choice([5, 10, 15])
    right, wrong = principal * (1 + rate / 100) ** years, principal * (1 + rate / 100 * years)
    prompt = (
        f"If I invest ${principal:,} at {rate}% interest compounded annually, how much will I have after {years} years?"
    )
    good = (
        f"Compound interest: A = P(1 + r)^n = {principal:,} × (1 + {rate / 100:.2f})^{years}\n\n"
        f"(1.{rate:02d})^{years} ≈ {(1 + rate / 100) ** years:.4f}, so A ≈ **{_money(right)}**.\n\n"
        f"That's {_money(right - principal)} of interest, more than simple interest would give ({_money(wrong - principal)}) because interest earns interest."
    )
    bad = f"Interest per year is {rate}% of {principal:,} = {_money(principal * rate / 100)}. Over {years} years you'll have **{_money(wrong)}**."
    return prompt, good, bad


def linear(rng):
    a, x, b = rng.randint(2, 9), rng.randint(-6, 12), rng.randint(1, 20)
    c = a * x + b
    prompt = f"Solve for x: {a}x + {b} = {c}"
    good = f"Subtract {b} from both sides: {a}x = {c - b}.\n\nDivide both sides by {a}: **x = {x}**.\n\nCheck: {a} × {x} + {b} = {c}. ✓"
    bad = f"Move {b} across: {a}x = {c} + {b} = {c + b}, so **x = {(c + b) / a:g}**."
    return prompt, good, bad


def circle(rng):
    r = rng.randint(2, 40)
    prompt = f"What is the area of a circle with a radius of {r} cm?"
    good = f"Area = πr² = π × {r}² = {r * r}π ≈ **{math.pi * r * r:.1f} cm²**."
    bad = f"Area = 2πr = 2 × π × {r} ≈ **{2 * math.pi * r:.1f} cm²**."
    return prompt, good, bad


def series(rng):
    n = rng.choice([20, 30, 40, 50, 60, 80, 100, 120, 150, 200, 250, 300, 500, 1000])
    prompt = f"What is the sum of all whole numbers from 1 to {n}?"
    good = (
        f"Pair the numbers from both ends: 1 + {n}, 2 + {n - 1}, … each pair sums to {n + 1}, and there are {n // 2} pairs.\n\n"
        f"Sum = n(n + 1) / 2 = {n} × {n + 1} / 2 = **{n * (n + 1) // 2:,}**."
    )
    bad = f"The average number is about {n // 2}, times {n} numbers = **{n * n // 2:,}**."
    return prompt, good, bad


def dice(rng):
    s = rng.choice([3, 4, 5, 6, 7, 8, 9, 10, 11])
    ways = 6 - abs(7 - s)
    prompt = f"If I roll two fair six-sided dice, what's the probability that they add up to {s}?"
    pairs = ", ".join(f"({i},{s - i})" for i in range(1, 7) if 1 <= s - i <= 6)
    good = (
        f"There are 6 × 6 = 36 equally likely outcomes. The ones that sum to {s} are {pairs}: {ways} outcomes.\n\n"
        f"P = {ways}/36 = **{ways / 36:.3f}** (about {100 * ways / 36:.1f}%)."
    )
    bad = "The possible sums are 2 to 12, which is 11 values, so the probability is **1/11 ≈ 0.091**."
    return prompt, good, bad


def mean(rng):
    xs = [rng.randint(40, 99) for _ in range(rng.randint(5, 7))]
    prompt = f"My test scores this term were {', '.join(map(str, xs))}. What's my average?"
    good = f"Add them up: {' + '.join(map(str, xs))} = {sum(xs)}.\n\nDivide by the number of tests ({len(xs)}): {sum(xs)} / {len(xs)} = **{sum(xs) / len(xs):.1f}**."
    bad = f"Sum = {sum(xs[:-1])}, divided by {len(xs)} = **{sum(xs[:-1]) / len(xs):.1f}**."
    return prompt, good, bad


TEMPLATES = [speed, discount, compound, linear, circle, series, dice, mean]


def problems(rng, n):
    """n distinct problems, cycling through the templates."""
    seen: set[str] = set()
    out: list[tuple[str, str, str]] = []
    attempt = 0
    while len(out) < n:
        if attempt > 50 * n:
            raise ValueError(f"only {len(out)} distinct problems")
        prompt, good, bad = TEMPLATES[attempt % len(TEMPLATES)](rng)
        attempt += 1
        if prompt not in seen:
            seen.add(prompt)
            out.append((prompt, good, bad))
    return out
