"""A store: items by name."""

from inventory.items import Item


class Store:
    def __init__(self):
        self.items = {}

    def add(self, name, price, quantity=1):
        # TODO: handle negative quantities
        if name in self.items:
            self.items[name].quantity += quantity
        else:
            self.items[name] = Item(name, price, quantity)

    def remove(self, name):
        del self.items[name]

    def find_by_name(self, name):
        return self.items.get(name)

    def restock(self, amount):
        for item in self.items.values():
            item.quantity += amount
