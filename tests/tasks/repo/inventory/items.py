"""Items and their prices."""


class Item:
    def __init__(self, name, price, quantity=1):
        self.name = name
        self.price = price
        self.quantity = quantity

    def __repr__(self):
        return f"Item({self.name!r}, {self.price}, {self.quantity})"


def total_price(items):
    """The price of all the items, each counted as many times as its quantity."""
    return sum(item.price for item in items)
