"""Text reports of a store."""

CURRENCY = "$"


def format_report(store):
    lines = []
    for item in sorted(store.items.values(), key=lambda i: i.name):
        lines.append(f"{item.name}: {item.quantity} x {CURRENCY}{item.price:.2f}")
    return "\n".join(lines)
