"""TextCraft's recipe book: Minecraft-style crafting recipes, written for agent_gym.

`RECIPES` maps an item to `(output count, {ingredient: count})`. Items that no recipe makes
(`BASE_ITEMS`) are gathered with `get`. An item's depth is 1 + the deepest of its ingredients,
base items being 0; tasks of level d ask for an item of depth d.
"""

from __future__ import annotations

from functools import cache

Recipe = tuple[int, dict[str, int]]

WOODS = ("oak", "birch", "spruce", "jungle", "acacia", "dark oak")

RECIPES: dict[str, Recipe] = {}


def _add(item: str, count: int, **ingredients: int) -> None:
    RECIPES[item] = (count, {name.replace("_", " "): n for name, n in ingredients.items()})


def _add_items(item: str, count: int, ingredients: dict[str, int]) -> None:
    RECIPES[item] = (count, dict(ingredients))


# ---- wood --------------------------------------------------------------------------------------
for _wood in WOODS:
    _planks = f"{_wood} planks"
    _add_items(_planks, 4, {f"{_wood} log": 1})
    _add_items(f"{_wood} slab", 6, {_planks: 3})
    _add_items(f"{_wood} stairs", 4, {_planks: 6})
    _add_items(f"{_wood} door", 3, {_planks: 6})
    _add_items(f"{_wood} trapdoor", 2, {_planks: 6})
    _add_items(f"{_wood} pressure plate", 1, {_planks: 2})
    _add_items(f"{_wood} button", 1, {_planks: 1})
    _add_items(f"{_wood} boat", 1, {_planks: 5})
    _add_items(f"{_wood} sign", 3, {_planks: 6, "stick": 1})
    _add_items(f"{_wood} fence", 3, {_planks: 4, "stick": 2})
    _add_items(f"{_wood} fence gate", 1, {"stick": 4, _planks: 2})
    _add_items(f"{_wood} wood", 3, {f"{_wood} log": 4})
    _add_items(f"{_wood} chest boat", 1, {f"{_wood} boat": 1, "chest": 1})

_add("stick", 4, oak_planks=2)
_add("crafting table", 1, oak_planks=4)
_add("chest", 1, oak_planks=8)
_add("barrel", 1, oak_planks=6, oak_slab=2)
_add("bowl", 4, oak_planks=3)
_add("ladder", 3, stick=7)
_add("bookshelf", 1, oak_planks=6, book=3)
_add("lectern", 1, oak_slab=4, bookshelf=1)
_add("composter", 1, oak_slab=7)
_add("note block", 1, oak_planks=8, redstone=1)
_add("jukebox", 1, oak_planks=8, diamond=1)
_add("cartography table", 1, paper=2, oak_planks=4)
_add("fletching table", 1, flint=2, oak_planks=4)
_add("smithing table", 1, iron_ingot=2, oak_planks=4)
_add("loom", 1, string=2, oak_planks=2)
_add("shield", 1, oak_planks=6, iron_ingot=1)
_add("campfire", 1, stick=3, coal=1, oak_log=3)
_add("smoker", 1, oak_log=4, furnace=1)

# ---- tools and weapons ---------------------------------------------------------------------------
for _material, _name in (("oak planks", "wooden"), ("cobblestone", "stone"), ("iron ingot", "iron"),
                         ("gold ingot", "golden"), ("diamond", "diamond")):
    _add_items(f"{_name} pickaxe", 1, {_material: 3, "stick": 2})
    _add_items(f"{_name} axe", 1, {_material: 3, "stick": 2})
    _add_items(f"{_name} shovel", 1, {_material: 1, "stick": 2})
    _add_items(f"{_name} hoe", 1, {_material: 2, "stick": 2})
    _add_items(f"{_name} sword", 1, {_material: 2, "stick": 1})
for _material, _name in (("leather", "leather"), ("iron ingot", "iron"), ("gold ingot", "golden"), ("diamond", "diamond")):
    _add_items(f"{_name} helmet", 1, {_material: 5})
    _add_items(f"{_name} chestplate", 1, {_material: 8})
    _add_items(f"{_name} leggings", 1, {_material: 7})
    _add_items(f"{_name} boots", 1, {_material: 4})

_add("bow", 1, stick=3, string=3)
_add("arrow", 4, flint=1, stick=1, feather=1)
_add("fishing rod", 1, stick=3, string=2)
_add("carrot on a stick", 1, fishing_rod=1, carrot=1)
_add("crossbow", 1, stick=3, string=2, iron_ingot=1, tripwire_hook=1)
_add("tripwire hook", 2, iron_ingot=1, stick=1, oak_planks=1)
_add("shears", 1, iron_ingot=2)
_add("flint and steel", 1, iron_ingot=1, flint=1)
_add("lead", 2, string=4, slime_ball=1)

# ---- stone ------------------------------------------------------------------------------------
_add("furnace", 1, cobblestone=8)
_add("cobblestone slab", 6, cobblestone=3)
_add("cobblestone stairs", 4, cobblestone=6)
_add("cobblestone wall", 6, cobblestone=6)
_add("stone bricks", 4, stone=4)
_add("stone brick slab", 6, stone_bricks=3)
_add("stone brick stairs", 4, stone_bricks=6)
_add("stone brick wall", 6, stone_bricks=6)
_add("stone slab", 6, stone=3)
_add("stone button", 1, stone=1)
_add("stone pressure plate", 1, stone=2)
_add("stonecutter", 1, iron_ingot=1, stone=3)
_add("smooth stone slab", 6, smooth_stone=3)
_add("blast furnace", 1, iron_ingot=5, furnace=1, smooth_stone=3)
_add("grindstone", 1, stick=2, stone_slab=1, oak_planks=2)
_add("armor stand", 1, stick=6, smooth_stone_slab=1)
_add("lever", 1, stick=1, cobblestone=1)
_add("brewing stand", 1, blaze_rod=1, cobblestone=3)
_add("sandstone", 1, sand=4)
_add("sandstone slab", 6, sandstone=3)
_add("sandstone stairs", 4, sandstone=6)
_add("cut sandstone", 4, sandstone=4)
_add("chiseled sandstone", 1, sandstone_slab=2)
_add("bricks", 1, brick=4)
_add("brick slab", 6, bricks=3)
_add("brick stairs", 4, bricks=6)
_add("brick wall", 6, bricks=6)
_add("flower pot", 1, brick=3)
_add("quartz block", 1, quartz=4)
_add("quartz slab", 6, quartz_block=3)
_add("quartz pillar", 2, quartz_block=2)

# ---- metals and redstone -----------------------------------------------------------------------
_add("iron block", 1, iron_ingot=9)
_add("iron nugget", 9, iron_ingot=1)
_add("gold block", 1, gold_ingot=9)
_add("gold nugget", 9, gold_ingot=1)
_add("diamond block", 1, diamond=9)
_add("redstone block", 1, redstone=9)
_add("bucket", 1, iron_ingot=3)
_add("iron bars", 16, iron_ingot=6)
_add("iron door", 3, iron_ingot=6)
_add("iron trapdoor", 1, iron_ingot=4)
_add("cauldron", 1, iron_ingot=7)
_add("anvil", 1, iron_block=3, iron_ingot=4)
_add("chain", 1, iron_nugget=2, iron_ingot=1)
_add("lantern", 1, iron_nugget=8, torch=1)
_add("torch", 4, coal=1, stick=1)
_add("compass", 1, iron_ingot=4, redstone=1)
_add("clock", 1, gold_ingot=4, redstone=1)
_add("map", 1, paper=8, compass=1)
_add("minecart", 1, iron_ingot=5)
_add("chest minecart", 1, minecart=1, chest=1)
_add("furnace minecart", 1, minecart=1, furnace=1)
_add("hopper", 1, iron_ingot=5, chest=1)
_add("hopper minecart", 1, hopper=1, minecart=1)
_add("rail", 16, iron_ingot=6, stick=1)
_add("powered rail", 6, gold_ingot=6, stick=1, redstone=1)
_add("detector rail", 6, iron_ingot=6, stone_pressure_plate=1, redstone=1)
_add("activator rail", 6, iron_ingot=6, stick=2, redstone_torch=1)
_add("redstone torch", 1, redstone=1, stick=1)
_add("repeater", 1, redstone_torch=2, redstone=1, stone=3)
_add("comparator", 1, redstone_torch=3, quartz=1, stone=3)
_add("piston", 1, oak_planks=3, cobblestone=4, iron_ingot=1, redstone=1)
_add("sticky piston", 1, piston=1, slime_ball=1)
_add("dispenser", 1, cobblestone=7, bow=1, redstone=1)
_add("dropper", 1, cobblestone=7, redstone=1)
_add("observer", 1, cobblestone=6, redstone=2, quartz=1)
_add("daylight detector", 1, glass=3, quartz=3, oak_slab=3)
_add("redstone lamp", 1, redstone=4, glowstone=1)
_add("target", 1, redstone=4, hay_bale=1)
_add("tnt", 1, gunpowder=5, sand=4)
_add("tnt minecart", 1, tnt=1, minecart=1)

# ---- glass, paper, food and cloth --------------------------------------------------------------
_add("glass pane", 16, glass=6)
_add("glass bottle", 3, glass=3)
_add("beacon", 1, glass=5, obsidian=3, nether_star=1)
_add("paper", 3, sugar_cane=3)
_add("book", 1, paper=3, leather=1)
_add("writable book", 1, book=1, ink_sac=1, feather=1)
_add("enchanting table", 1, book=1, diamond=2, obsidian=4)
_add("sugar", 1, sugar_cane=1)
_add("bread", 1, wheat=3)
_add("cookie", 8, wheat=2, cocoa_beans=1)
_add("cake", 1, milk_bucket=3, sugar=2, egg=1, wheat=3)
_add("pumpkin pie", 1, pumpkin=1, sugar=1, egg=1)
_add("hay bale", 1, wheat=9)
_add("golden apple", 1, gold_ingot=8, apple=1)
_add("golden carrot", 1, gold_nugget=8, carrot=1)
_add("glistering melon slice", 1, gold_nugget=8, melon_slice=1)
_add("mushroom stew", 1, bowl=1, red_mushroom=1, brown_mushroom=1)
_add("beetroot soup", 1, bowl=1, beetroot=6)
_add("white wool", 1, string=4)
_add("white carpet", 3, white_wool=2)
_add("white bed", 1, white_wool=3, oak_planks=3)
_add("white banner", 1, white_wool=6, stick=1)
_add("painting", 1, stick=8, white_wool=1)
_add("item frame", 1, stick=8, leather=1)
_add("bone meal", 3, bone=1)
_add("bone block", 1, bone_meal=9)
_add("white dye", 1, bone_meal=1)
_add("blaze powder", 2, blaze_rod=1)
_add("eye of ender", 1, ender_pearl=1, blaze_powder=1)
_add("ender chest", 1, obsidian=8, eye_of_ender=1)
_add("end crystal", 1, glass=7, eye_of_ender=1, ghast_tear=1)
_add("magma cream", 1, blaze_powder=1, slime_ball=1)
_add("fermented spider eye", 1, spider_eye=1, brown_mushroom=1, sugar=1)
_add("scaffolding", 6, bamboo=6, string=1)
_add("slime block", 1, slime_ball=9)
_add("honey block", 1, honey_bottle=4)
_add("beehive", 1, oak_planks=6, honeycomb=3)
_add("candle", 1, string=1, honeycomb=1)
_add("spyglass", 1, amethyst_shard=2, copper_ingot=1)
_add("lightning rod", 1, copper_ingot=3)
_add("copper block", 1, copper_ingot=9)

BASE_ITEMS: frozenset[str] = frozenset(
    ingredient for _, ingredients in RECIPES.values() for ingredient in ingredients if ingredient not in RECIPES
)
"""Items no recipe makes: the agent gathers them with `get`."""


@cache
def depth(item: str) -> int:
    """0 for a base item, else 1 + the deepest ingredient's depth."""
    if item not in RECIPES:
        return 0
    return 1 + max(depth(ingredient) for ingredient in RECIPES[item][1])


def items_at_depth(level: int) -> list[str]:
    """The craftable items of depth `level`, sorted."""
    return sorted(item for item in RECIPES if depth(item) == level)


MAX_DEPTH = max(depth(item) for item in RECIPES)
