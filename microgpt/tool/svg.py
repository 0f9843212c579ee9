"""Drawing for the report: SVG elements written as text, linear scales, and axes with round ticks.

Every number goes out through one fixed format, so the same figure is always the same bytes; a value
that is not finite (a diverged loss) is never drawn. Standard library only.

Left out: every chart type the report does not draw, and interaction (report.py adds a few lines of
script for reading values under the pointer).
"""

import math
import sys
from html import escape


def num(x):
    """A coordinate: one decimal, and never "-0.0"."""
    text = "%.1f" % x
    return "0.0" if text == "-0.0" else text


def tag(name, content=None, **attributes):
    """<name a="..">content</name>, or <name a=".."/> without content. `class_` is written class and
    underscores become dashes (stroke_width -> stroke-width); None leaves an attribute out."""
    attrs = "".join(' %s="%s"' % (key.rstrip("_").replace("_", "-"), escape(str(value)))
                    for key, value in attributes.items() if value is not None)
    if content is None:
        return "<%s%s/>" % (name, attrs)
    return "<%s%s>%s</%s>" % (name, attrs, content, name)


def text(x, y, words, **attributes):
    return tag("text", escape(words), x=num(x), y=num(y), **attributes)


def title(words):
    """A tooltip: the browser shows it when the pointer rests on the element that holds it."""
    return tag("title", escape(words))


def line(x1, y1, x2, y2, **attributes):
    return tag("line", x1=num(x1), y1=num(y1), x2=num(x2), y2=num(y2), **attributes)


def rect(x, y, width, height, content=None, **attributes):
    return tag("rect", content, x=num(x), y=num(y), width=num(width), height=num(height), **attributes)


def figure(width, height, content, **attributes):
    """An <svg> that scales down with the page (its width) and keeps its proportions."""
    return tag("svg", content, xmlns="http://www.w3.org/2000/svg", viewBox="0 0 %d %d" % (width, height),
               width=width, height=height, role="img", **attributes)


class Scale:
    """The linear map from a data interval (lo, hi) onto a pixel interval (start, end); a single value
    (lo == hi) gets a unit-wide interval around it so that it still lands in the middle."""

    def __init__(self, lo, hi, start, end):
        if not hi > lo:
            lo, hi = lo - 0.5, lo + 0.5
        self.lo, self.hi, self.start, self.end = lo, hi, start, end

    def __call__(self, value):
        return self.start + (value - self.lo) * (self.end - self.start) / (self.hi - self.lo)

    def describe(self):
        """"lo hi start end": enough for a reader (a test, the page's script) to invert the map."""
        return " ".join(repr(float(v)) for v in (self.lo, self.hi, self.start, self.end))


def finite_range(values):
    """(min, max) of the finite values, or (0, 1) if there are none."""
    kept = [v for v in values if math.isfinite(v)]
    return (min(kept), max(kept)) if kept else (0.0, 1.0)


def ticks(lo, hi, most=6):
    """Round values inside [lo, hi], 1, 2 or 5 times a power of ten apart, at most `most` of them,
    and the decimals their labels need."""
    if not hi > lo:
        return [lo], 2
    raw = (hi - lo) / max(most - 1, 1)
    if not raw >= sys.float_info.min:  # a range so narrow (an lr of 5e-324) that a step's power of ten underflows
        return [lo], 2
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9)
    values = [(first + i) * step for i in range(int(math.floor(hi / step + 1e-9)) - first + 1)]
    return values, max(0, -int(math.floor(math.log10(step) + 1e-9)))


def polyline(points, sx, sy, **attributes):
    """The finite (x, y) points through the scales, as one line."""
    drawn = " ".join("%s,%s" % (num(sx(x)), num(sy(y))) for x, y in points if math.isfinite(y))
    return tag("polyline", points=drawn, fill="none", **attributes)


def axes(sx, sy, xlabel, ylabel, integer_x=False):
    """Frame, grid lines, tick labels and axis titles of a chart whose plot area the scales span."""
    left, right, top, bottom = sx.start, sx.end, sy.end, sy.start
    parts = [rect(left, top, right - left, bottom - top, fill="none", stroke="#bbb")]
    values, decimals = ticks(sy.lo, sy.hi, max(3, min(7, int((bottom - top) // 36))))
    for v in values:
        y = sy(v)
        parts.append(line(left, y, right, y, stroke="#eee"))
        parts.append(text(left - 6, y + 4, "%.*f" % (decimals, v), class_="tick", text_anchor="end"))
    values, decimals = ticks(sx.lo, sx.hi, 8)
    for v in values:
        if integer_x and v != int(v):
            continue
        x = sx(v)
        parts.append(line(x, bottom, x, bottom + 4, stroke="#888"))
        parts.append(text(x, bottom + 16, "%.*f" % (0 if integer_x else decimals, v), class_="tick",
                          text_anchor="middle"))
    parts.append(text((left + right) / 2, bottom + 32, xlabel, class_="label", text_anchor="middle"))
    parts.append(text(14, (top + bottom) / 2, ylabel, class_="label", text_anchor="middle",
                      transform="rotate(-90 14 %s)" % num((top + bottom) / 2)))
    return "".join(parts)
