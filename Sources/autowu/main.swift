import AutoWUCommands

AutoWUCommand.runMain()
