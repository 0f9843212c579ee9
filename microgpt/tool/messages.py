"""What the tool says to a person, in the learner's language: English (the default) or Simplified Chinese.

A message's key is its English text, so the code still reads as English: t(text, lang) is that text in
`lang`, and the English itself where the table has no entry (a sentence added later shows in English until
it is translated, rather than failing). A translation keeps its key's %-placeholders, the same ones in the
same order (tests/test_lang.py checks), so `t(english, lang) % values` fills either.

The language: --lang if given, else the locale's environment as POSIX reads it for messages (LC_ALL, then
LC_MESSAGES, then LANG; the first one set decides), Chinese for any value starting with zh (zh_CN.UTF-8,
zh_TW, zh), English for anything else.

Left out: other languages, and error messages, which stay English (they are the ones quoted in
docs/errors.md and searched for); stdout's step, evaluation and sample lines, which stay exactly the
reference run's.
"""

import os

LANGS = ("en", "zh-CN")
ENVIRONMENT = ("LC_ALL", "LC_MESSAGES", "LANG")


def from_environment(environ=None):
    """The language the locale asks for: "zh-CN" or "en"."""
    environ = os.environ if environ is None else environ
    for name in ENVIRONMENT:
        value = environ.get(name)
        if value:
            return "zh-CN" if value.lower().startswith("zh") else "en"
    return "en"


def choose(flag=None, environ=None):
    """--lang's value if given, else the locale's."""
    return flag or from_environment(environ)


def t(text, lang):
    """`text` (English, the key) in `lang`."""
    if lang == "zh-CN":
        return ZH_CN.get(text, text)
    return text


# --------------------------------------------------------------------------------------------------
# Simplified Chinese, by English key

ZH_CN = {
    # stderr while training: progress, the evaluation announced, warnings (console.py, training.py, cost.py,
    # tokenizers.py)
    "step %d/%d | loss %.4f%s | %.1f steps/s | ETA %s": "第 %d/%d 步 | 损失 %.4f%s | %.1f 步/秒 | 预计还需 %s",
    " | held-out %.4f": " | 留出集 %.4f",
    " (%.3f bpc)": "（%.3f 比特/字符）",
    "%dm%02ds": "%d分%02d秒",
    "step %d/%d | evaluating on %d held-out docs, about %s": "第 %d/%d 步 | 正在 %d 个留出文档上评估，约需 %s",
    "step %d/%d | evaluating on %d held-out windows, about %s": "第 %d/%d 步 | 正在 %d 个留出窗口上评估，约需 %s",
    "BPE: %d of %d merges, %.0f s": "BPE：%d / %d 次合并，%.0f 秒",
    "warning: cannot write the output (%s); going on without it": "警告：无法写出输出（%s）；不再输出，继续运行",
    "warning: %d of %d training documents are longer than the context (block_size %d): %d of their %d tokens to "
    "predict (%.1f%%) lie past it and are never trained on%s; --format text reads the file as one text":
        "警告：%d / %d 个训练文档比上下文（block_size %d）长：它们要预测的 %d / %d 个记号（%.1f%%）落在上下文之外，"
        "从不参与训练%s；--format text 会把文件当作一整段文本来读",
    ", and %d held-out tokens are not scored": "，另有 %d 个留出记号不计分",
    "warning: %s will take about %s at ~%d ns per multiply-add (measure yours with microgpt bench)":
        "警告：%s 大约需要 %s（按每次乘加约 %d 纳秒计；用 microgpt bench 测量你的机器）",
    "%d steps of %s": "训练 %d 步（%s）",
    "%d minutes": "%d 分钟",
    "%.0f hours": "%.0f 小时",
    "%.2g days": "%.2g 天",

    # report.py: the page's frame
    "MicroGPT run %s": "MicroGPT 运行记录 %s",
    "Training: step %d of %d.": "训练中：第 %d / %d 步。",
    "This page reloads every 5 seconds until the run ends.": "运行结束前，本页每 5 秒重新载入一次。",
    "Complete: %d of %d steps.": "已完成：%d / %d 步。",
    "Stopped at step %d of %d (its last checkpoint); continue with %s.":
        "停在第 %d / %d 步（它的最后一个检查点）；继续训练：%s。",
    "%d parameters": "%d 个参数",
    "vocabulary of %d": "词表大小 %d",
    "held-out loss %.4f at step %d": "留出集损失 %.4f（第 %d 步）",
    " (%.4f bits per character)": "（%.4f 比特/字符）",
    "bigram %.4f": "二元模型 %.4f",
    "uniform %.4f": "均匀猜测 %.4f",
    "%d of %d samples new": "新样本 %d / %d",
    "Loss": "损失",
    "Samples": "样本",
    "Attention": "注意力",
    "Embeddings": "嵌入",
    "Surprise": "意外",
    "The run": "这次运行",
    "Nothing to show: %s.": "没有可显示的：%s。",
    "warning: could not write the report %s: %s": "警告：无法写入报告 %s：%s",
    # what the figures look inside: held-out, training or generated documents, or why none
    "held-out": "留出",
    "training": "训练",
    "generated": "生成",
    "the model's probabilities overflow: its weights are too large": "模型的概率溢出了：它的权重太大",
    "no documents to look inside (the training data is not there, and no sample has a character)":
        "没有可以查看内部的文档（训练数据不在，样本里也没有一个字符）",

    # 1. the loss
    "1. Loss": "1. 损失",
    "No loss logged yet: metrics.jsonl is empty or missing.": "还没有记录任何损失：metrics.jsonl 为空或不存在。",
    "The curves appear here once the run has logged a step.": "运行记录下第一步后，曲线就会出现在这里。",
    "training loss, every logged step": "训练损失，每个记录的步",
    "training loss, mean of the last %d": "训练损失，最近 %d 步的平均",
    "uniform guess, ln %d = %.4f": "均匀猜测，ln %d = %.4f",
    "bigram counts, held-out %.4f": "二元计数模型，留出集 %.4f",
    "step %d: held-out loss %.4f": "第 %d 步：留出集损失 %.4f",
    "held-out loss (on %s windows)": "留出集损失（在 %s 个窗口上）",
    "held-out loss (on %s documents)": "留出集损失（在 %s 个文档上）",
    " or ": " 或 ",
    "step": "步",
    "(step %s)": "（第 %s 步）",
    "smoothed": "平滑",
    "lr": "学习率",
    "loss (nats per token)": "损失（奈特/记号）",
    "learning rate": "学习率",
    "The loss starts near a uniform guess over the %d tokens (ln %d = %.2f)":
        "损失起初接近在 %d 个记号中均匀猜测的水平（ln %d = %.2f）",
    " and falls as the model learns (no held-out documents: nothing to tell learning from memorising).":
        "，并随着模型的学习而下降（没有留出文档：无从分辨学会与死记）。",
    " and falls as the model learns, to %.2f on held-out text it never trains on%s":
        "，并随着模型的学习而下降，在从未用来训练的留出文本上降到 %.2f%s",
    " and falls as the model learns, to %.2f on held-out documents it never trains on%s":
        "，并随着模型的学习而下降，在从未用来训练的留出文档上降到 %.2f%s",
    " (%.3f bits per character)": "（%.3f 比特/字符）",
    ", better than the %.2f of counting character pairs (bigram)": "，好于统计字符对（二元模型）得到的 %.2f",
    ", not yet better than the %.2f of counting character pairs (bigram)":
        "，还没有好于统计字符对（二元模型）得到的 %.2f",
    ": close to the smoothed training loss (%.2f), so it learned what the text is like rather than memorising it.":
        "：接近平滑后的训练损失（%.2f），说明它学到的是这段文本的样子，而不是把它背了下来。",
    ": close to the smoothed training loss (%.2f), so it learned what the documents look like rather than "
    "memorising them.": "：接近平滑后的训练损失（%.2f），说明它学到的是这些文档的样子，而不是把它们背了下来。",
    ": %.2f above the smoothed training loss, the part it memorised rather than learned.":
        "：比平滑后的训练损失高 %.2f，这是它死记而非学会的部分。",

    # 2. samples
    "2. Samples": "2. 样本",
    "(empty)": "（空）",
    "Nothing to show: the model cannot be sampled, its probabilities overflow (its weights are too large).":
        "没有可显示的：无法从模型采样，它的概率溢出了（权重太大）。",
    "New or seen: unknown, %s.": "新的还是见过的：未知，%s。",
    "no training data": "没有训练数据",
    "new: %d of %d (%.0f%%)": "新的：%d / %d（%.0f%%）",
    "new: not in the training data": "新的：不在训练数据中",
    "seen in training": "见过的：在训练数据中",
    "%d samples written by the model at temperature %s (%s): new ones are its own inventions, seen ones it took "
    "from the training data; a model that only memorised would write nothing new, one that learned nothing would "
    "write gibberish.": "模型写出的 %d 个样本，温度 %s（%s）：新的是它自己的发明，见过的是它从训练数据里拿来的；"
                        "只会死记的模型写不出新东西，什么都没学到的模型只会写出乱码。",
    "from the weights at step %d, drawn as the run will draw them at its end":
        "取自第 %d 步的权重，抽法与运行结束时相同",
    "the first of the %d its training run printed": "训练运行打印出的 %d 个中最前面的",
    "the ones its training run printed": "即训练运行打印出的那些",
    "continuing the run's random stream": "延续这次运行的随机数流",
    "%d passages of %d tokens written by the model at temperature %s (%s), after a line break: past its context "
    "of %d tokens it reads the last %d to write the next, so a passage goes on as long as asked (microgpt sample "
    "--length N); a model that learned nothing would write gibberish.":
        "模型写出的 %d 段文字，每段 %d 个记号，温度 %s（%s），都从一个换行开始：超出 %d 个记号的上下文之后，它读最后 "
        "%d 个来写下一个，所以一段文字要多长就能写多长（microgpt sample --length N）；什么都没学到的模型只会写出乱码。",

    # 3. attention
    "3. Attention": "3. 注意力",
    "layer %d, head %d": "第 %d 层，第 %d 头",
    "%s (position %d) looks at %s (position %d): %.3f": "%s（位置 %d）看向 %s（位置 %d）：%.3f",
    "Each row is the model at one position of the text and each cell how much it looks back at an earlier one (%s "
    "is the start; darker means more, a row sums to 1, and nothing lies right of the diagonal because the model "
    "cannot see ahead): heads that look at different places have learned different jobs.":
        "每一行是模型在文本的一个位置上，每个格子是它回看之前某个位置的多少（%s 是开头；颜色越深表示越多，"
        "每行之和为 1，对角线右边什么都没有，因为模型看不到后面）：看向不同地方的头学会了不同的工作。",

    # 4. token embeddings
    "4. Token embeddings": "4. 记号嵌入",
    "Nothing to draw: the embeddings are too large for their variance to be a finite number.":
        "没有可画的：嵌入太大，它们的方差不是一个有限的数。",
    "first principal direction (%s of the variance)": "第一主方向（占方差的 %s）",
    "second (%s)": "第二主方向（%s）",
    "vowel": "元音",
    "consonant": "辅音",
    "other": "其他",
    "Each token is a point at its learned embedding (its row of wte, %d numbers) seen from the two directions "
    "along which the embeddings differ most, so tokens the model treats alike end up close together":
        "每个记号是一个点，位于它学到的嵌入处（它在 wte 中的那一行，%d 个数），从嵌入之间差别最大的两个方向看过去，"
        "所以模型一视同仁的记号最后会靠在一起",
    ".": "。",
    ": here the vowels sit %.1f times closer to each other than to the consonants, learned from nothing but which "
    "characters follow which.":
        "：这里元音彼此之间比它们到辅音近 %.1f 倍，而模型只凭哪个字符跟在哪个字符后面就学到了这一点。",
    ": the vowels are not (yet) closer to each other than to the consonants.":
        "：元音彼此之间（还）没有比它们到辅音更近。",

    # 5. surprise
    "5. What surprises the model": "5. 什么让模型意外",
    "0 (certain)": "0（确定）",
    "%.2f = ln %d (blind guess)": "%.2f = ln %d（瞎猜）",
    "Surprise of each character, -ln p (the %s ones; %s = the end):":
        "每个字符的意外程度 -ln p（%s文档；%s 表示结尾）：",
    "The five likeliest next tokens at every position of %s": "%s 每个位置上最可能的五个下一个记号",
    "%.2f nats per token": "%.2f 奈特/记号",
    "after %s": "在 %s 之后",
    "real next %s: %.1f%%, rank %d": "实际的下一个 %s：%.1f%%，排第 %d",
    "Darker tokens surprised the model more (-ln p of that token given the ones before it in its window, ln %d = "
    "%.2f being a blind guess): in these windows of the text the first prediction, from one token of context, "
    "costs %s nats on average, the later ones, from more, %s; the bars show what it expected instead.":
        "颜色越深的记号越让模型意外（给定窗口中前面的记号时这个记号的 -ln p，ln %d = %.2f 相当于瞎猜）："
        "在文本的这些窗口里，第一个预测只有一个记号的上下文，平均花费 %s 奈特，后面上下文更多的预测花费 %s；"
        "条形图显示模型原本预期的是什么。",
    "Darker characters surprised the model more (-ln p of that character given the ones before it, ln %d = %.2f "
    "being a blind guess): in these documents the first character costs %s nats on average, where anything could "
    "start, those inside %s, and the end %s; the bars show what it expected instead.":
        "颜色越深的字符越让模型意外（给定前面的字符时这个字符的 -ln p，ln %d = %.2f 相当于瞎猜）：在这些文档里，"
        "第一个字符平均花费 %s 奈特，因为什么字符都可能开头；中间的字符 %s，结尾 %s；条形图显示模型原本预期的是什么。",

    # 6. the run
    "6. The run": "6. 这次运行",
    "Config": "配置",
    "Parameters": "参数",
    "Speed": "速度",
    "Data": "数据",
    "The command that makes this run again": "重现这次运行的命令",
    "field": "字段",
    "value": "值",
    "changed": "已更改",
    "names (downloaded)": "names（已下载）",
    "matrix": "矩阵",
    "shape": "形状",
    "numbers": "个数",
    "total": "合计",
    "steps per second": "每秒步数",
    "tokens per second": "每秒记号数",
    "training time": "训练时间",
    "unknown": "未知",
    "unknown (no training data)": "未知（没有训练数据）",
    "%.1f s over the logged steps": "%.1f 秒（记录下的各步）",
    "file": "文件",
    "names.txt (downloaded)": "names.txt（已下载）",
    "characters": "字符数",
    "documents": "文档数",
    "vocabulary": "词表",
    "%d tokens: %s and BOS (%s)": "%d 个记号：%s 和 BOS（%s）",
    "%d tokens: the 256 bytes, %d BPE merges (the first: %s) and BOS (%s)":
        "%d 个记号：256 个字节、%d 次 BPE 合并（最先的几个：%s）和 BOS（%s）",
    "split": "划分",
    "%d training tokens, %d held out (%d windows)": "训练 %d 个记号，留出 %d 个（%d 个窗口）",
    "%d training, %d held out": "训练 %d 个，留出 %d 个",
    "unknown: %s": "未知：%s",
    "Not settable from the command line: %s.": "无法从命令行设置：%s。",
    "\u2026(%d more characters)": "\u2026（还有 %d 个字符）",
    "%d to %d": "%d 到 %d",
    " (the first %d of its %d tokens are drawn, and BOS)": "（只画出前 %d 个记号和 BOS，共 %d 个记号）",
    "Everything needed to repeat the run: the same command, with the same data file and seed, gives the very same "
    "numbers (only the speed differs from machine to machine).":
        "重复这次运行所需的一切：同样的命令，配上同样的数据文件和随机种子，会得到完全相同的数字（只有速度因机器而异）。",
}
